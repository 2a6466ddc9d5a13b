// The pages' few behaviours on top of htmx: the dialog (open after its content loads, focus in,
// focus back on close), toasts, the schedule editor's kind switch, and the browser's time zone.
// Without JavaScript every action still works as a plain form or link.
(function () {
  "use strict";

  var opener = null; // the element that opened the dialog, and its id in case a refresh replaced it
  var openerId = "";

  function focusables(root) {
    return root.querySelectorAll("input:not([type=hidden]):not([disabled]), select, textarea, button, a[href], [tabindex]:not([tabindex='-1'])");
  }

  function firstVisible(list) {
    for (var i = 0; i < list.length; i++) {
      if (list[i].offsetParent !== null || list[i].getClientRects().length) return list[i];
    }
    return null;
  }

  // Focus the first invalid input (server-side messages), else the [autofocus] one, else the first input.
  function focusInto(root) {
    var target = firstVisible(root.querySelectorAll("[aria-invalid='true']")) ||
      root.querySelector("[autofocus]") || firstVisible(focusables(root));
    if (target) target.focus();
  }

  function returnFocus() {
    var target = opener && opener.isConnected ? opener : (openerId && document.getElementById(openerId));
    if (!target) target = document.querySelector("main h1") || document.getElementById("main");
    if (target) target.focus();
    opener = null;
    openerId = "";
  }

  document.addEventListener("click", function (event) {
    var open = event.target.closest("[data-opens-dialog]");
    if (open) {
      opener = open;
      openerId = open.id || "";
      // A static dialog opens now; one whose content htmx loads opens after the swap.
      if (!open.hasAttribute("hx-get")) {
        event.preventDefault();
        document.getElementById(open.dataset.opensDialog).showModal();
      }
      return;
    }
    var close = event.target.closest("[data-close-dialog]");
    if (close) {
      var dialog = close.closest("dialog");
      if (dialog) dialog.close();
      else if (close.dataset.href) window.location.href = close.dataset.href;
      return;
    }
    var dismiss = event.target.closest("[data-dismiss-toast]");
    if (dismiss) {
      var toast = dismiss.closest(".toast");
      // A button that also submits (Run anyway) must let its form go first.
      toast.hidden = true;
      setTimeout(function () { toast.remove(); }, dismiss.type === "submit" ? 5000 : 0);
    }
  });

  document.addEventListener("close-dialog", function () {
    document.querySelectorAll("dialog[open]").forEach(function (dialog) { dialog.close(); });
  });

  function watchDialog(dialog) {
    if (dialog.dataset.watched) return;
    dialog.dataset.watched = "1";
    dialog.addEventListener("close", function () {
      var body = dialog.querySelector("#page-dialog-body");
      if (body) body.replaceChildren();
      returnFocus();
    });
  }

  // Focus kept across swaps: a refreshed row or list gets its focused button back by id; if that
  // button is gone (a retried job's Retry), the nearest enclosing element that has an id and is still
  // there (its row) gets the focus, so it never falls to the page's start.
  var focusedId = "";
  var focusedAround = [];
  document.addEventListener("htmx:beforeSwap", function (event) {
    var active = document.activeElement;
    var target = event.detail.target;
    var inside = active && active !== document.body && target && target.contains(active);
    focusedId = inside && active.id ? active.id : "";
    focusedAround = [];
    for (var node = inside ? active.parentElement : null; node && node !== target.parentElement; node = node.parentElement) {
      if (node.id) focusedAround.push(node.id);
    }
  });

  function focusLostNear() {
    if (document.activeElement && document.activeElement !== document.body) return;
    var again = focusedId && document.getElementById(focusedId);
    if (again) { again.focus(); return; }
    for (var i = 0; i < focusedAround.length; i++) {
      var around = document.getElementById(focusedAround[i]);
      var target = around && firstVisible(focusables(around));
      if (target) { target.focus(); return; }
    }
    if (!focusedAround.length && !focusedId) return;  // the focus was not in the region
    var heading = document.querySelector("main h1[tabindex]") || document.getElementById("main");
    if (heading) heading.focus();
  }

  // --- live regions (common/live.py): htmx morphs them in place (idiomorph) ---------------------
  // A region refreshed while the user works keeps what they hold: the focus (idiomorph keeps the
  // focused element), an open <details> or <dialog>, and the value of any input they typed in or
  // ticked, focused or not (a half-typed search, a ticked box), until they submit it.
  var touched = new WeakSet();
  function touch(event) { touched.add(event.target); }
  document.addEventListener("input", touch, true);
  document.addEventListener("change", touch, true);
  // Once sent, a form's inputs follow the server again (a value it normalised, a box it unticked).
  document.addEventListener("submit", function (event) {
    Array.prototype.forEach.call(event.target.elements || [], function (input) { touched.delete(input); });
  }, true);

  function heldByUser(name, element) {
    if (name === "open") return element.tagName === "DETAILS" || element.tagName === "DIALOG";
    if (name === "value" || name === "checked") return touched.has(element) || element === document.activeElement;
    if (name === "selected") return touched.has(element.closest("select"));
    return false;
  }

  function configureMorph() {
    if (!window.Idiomorph) return;
    // Not idiomorph's ignoreActiveValue: it also leaves the focused element's children alone, so a
    // focused button whose label changes (Retry job… becoming Cancel job…) would keep the old label.
    Idiomorph.defaults.callbacks.beforeAttributeUpdated = function (name, element) {
      return !heldByUser(name, element);
    };
  }

  function isLiveSwap(detail) {
    var elt = detail.requestConfig && detail.requestConfig.elt;
    var target = detail.target;
    return !!((elt && elt.hasAttribute && elt.hasAttribute("data-live-watch")) ||
              (target && target.hasAttribute && target.hasAttribute("data-live-region")));
  }

  function swappedNothing(detail) {
    var xhr = detail.xhr;
    var elt = detail.requestConfig && detail.requestConfig.elt;
    return (xhr && xhr.getResponseHeader("HX-Reswap") === "none") || (elt && elt.getAttribute("hx-swap") === "none");
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    // A save or delete answers with events and toasts only; its dialog is closing, not to be reopened.
    if (swappedNothing(event.detail)) return;
    // A live region updated around the user: nothing opens and nothing takes the focus.
    if (isLiveSwap(event.detail)) { focusLostNear(); focusedId = ""; return; }
    // An outerHTML swap leaves the old element in the event: find its replacement by id.
    if (target && !target.isConnected && target.id) target = document.getElementById(target.id) || target;
    var dialog = target && target.closest ? target.closest("dialog") : null;
    if (dialog) {
      watchDialog(dialog);
      if (!dialog.open) dialog.showModal();
      // The editor's own swaps (an error re-render) also land here: focus the first invalid input.
      if (!dialog.contains(document.activeElement) || target.querySelector("[aria-invalid='true']")) focusInto(target);
      return;
    }
    if (target && target.isConnected && target.querySelector && target.querySelector("[aria-invalid='true']")) {
      focusInto(target);
      return;
    }
    if (focusedId) {
      var again = document.getElementById(focusedId);
      if (again) again.focus();
      else if (document.activeElement === document.body) returnFocus();
      focusedId = "";
    }
  });

  // --- polls (hx-trigger="every Ns"): only while the tab is visible --------------------------
  // The condition cannot sit in the trigger itself (`every 5s [document.visibilityState === ...]`):
  // htmx evaluates such a filter with Function(), which the Content-Security-Policy forbids. A poll is
  // the one request htmx issues with no triggering event; a region marked data-poll-unless-focused
  // (the alert log) is not polled either while the focus is inside it, so nothing moves under the user.
  // Requests caused by an event (a click, a "notifications-changed" from the body) always go.
  document.addEventListener("htmx:confirm", function (event) {
    var elt = event.detail.elt;
    if (event.detail.triggeringEvent || !/(^|,)\s*every\s/.test(elt.getAttribute("hx-trigger") || "")) return;
    if (document.visibilityState !== "visible" ||
        (elt.hasAttribute("data-poll-unless-focused") && elt.contains(document.activeElement))) event.preventDefault();
  });

  // --- toasts: successes fade after a while, warnings later; errors stay until dismissed ------
  // (Warnings used to stay too, like errors: "Backups off", "nothing to sync" never left.) A toast
  // the pointer or the focus is on waits until they leave it, so it is not taken from under them.
  function armToast(toast) {
    if (toast.dataset.armed || !toast.hasAttribute("data-autodismiss")) return;
    toast.dataset.armed = "1";
    var seconds = parseInt(toast.dataset.autodismiss, 10) || 8;
    function fade() {
      if (toast.matches(":hover") || toast.contains(document.activeElement)) { setTimeout(fade, 2000); return; }
      toast.remove();
    }
    setTimeout(fade, seconds * 1000);
  }

  // --- the schedule editor: only the chosen kind's inputs, only the chosen task's settings ----
  function syncEditor(root) {
    root.querySelectorAll("form#schedule-form").forEach(function (form) {
      var kindInput = form.querySelector("input[name=schedule_kind]:checked") || form.querySelector("[name=schedule_kind]");
      var kind = kindInput ? kindInput.value : "";
      form.querySelectorAll("[data-kinds]").forEach(function (el) {
        el.hidden = kind !== "" && el.dataset.kinds.split(" ").indexOf(kind) === -1;
      });
      var task = form.querySelector("[name=task_type]");
      form.querySelectorAll("[data-task-type]").forEach(function (el) {
        el.hidden = !!task && el.dataset.taskType !== task.value;
      });
      // A params input shown only while another has a value (ParamsForm's shown_when).
      form.querySelectorAll("[data-shown-when]").forEach(function (el) {
        var value = null;
        form.querySelectorAll('[name="' + el.dataset.shownWhen + '"]').forEach(function (input) {
          if ((input.type !== "radio" && input.type !== "checkbox") || input.checked) value = input.value;
        });
        el.hidden = value !== null && value !== el.dataset.shownValue;
      });
    });
  }

  document.addEventListener("change", function (event) {
    var name = event.target.name;
    if (name === "schedule_kind" || name === "task_type" ||
        (name && document.querySelector('[data-shown-when="' + name + '"]'))) syncEditor(document);
  });

  // --- time zones: the browser's own zone first ---------------------------------------------
  var browserZone = "";
  try { browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { browserZone = ""; }

  function offerBrowserZone(root) {
    if (!browserZone) return;
    root.querySelectorAll("datalist[data-browser-zone-first]").forEach(function (list) {
      if (list.dataset.offered) return;
      list.dataset.offered = "1";
      var option = document.createElement("option");
      option.value = browserZone;
      option.label = "Your time zone";
      list.prepend(option);
    });
    root.querySelectorAll("[data-use-browser-zone]").forEach(function (button) {
      var input = document.getElementById(button.dataset.useBrowserZone);
      if (!input || input.value === browserZone) return;
      button.textContent = "Use my time zone (" + browserZone + ")";
      button.hidden = false;
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-use-browser-zone]");
    if (!button) return;
    var input = document.getElementById(button.dataset.useBrowserZone);
    input.value = browserZone;
    input.dispatchEvent(new Event("input", { bubbles: true }));
    input.dispatchEvent(new Event("change", { bubbles: true }));
    if (button.hasAttribute("data-submit")) input.form.submit();
    else { button.hidden = true; input.focus(); }
  });

  function init(root) {
    syncEditor(root);
    offerBrowserZone(root);
    root.querySelectorAll(".toast").forEach(armToast);
    if (root.matches && root.matches(".toast")) armToast(root);
  }

  document.addEventListener("DOMContentLoaded", function () {
    configureMorph();
    init(document);
    document.querySelectorAll("dialog").forEach(watchDialog);
    var invalid = document.querySelector("main [aria-invalid='true']");
    if (invalid) focusInto(invalid.closest("form") || document);
    var toasts = document.getElementById("toasts");
    if (toasts) {
      new MutationObserver(function (records) {
        records.forEach(function (record) {
          record.addedNodes.forEach(function (node) { if (node.nodeType === 1) init(node); });
        });
      }).observe(toasts, { childList: true });
    }
  });
  document.addEventListener("htmx:load", function (event) { init(event.detail.elt); });
})();
