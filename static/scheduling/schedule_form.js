// Admin schedule form: show only the inputs of the chosen kind and the settings of the chosen task.
// Without JavaScript every input stays visible; the model clears the ones a kind does not use.
(function () {
  "use strict";
  var KIND_INPUTS = {
    daily: ["schedule_time"],
    weekly: ["schedule_time", "schedule_days"],
    interval: ["interval_minutes", "anchor_at"],
    cron: ["cron_expr"]
  };
  var TIMING = ["schedule_time", "schedule_days", "interval_minutes", "anchor_at", "cron_expr"];

  function row(name) {
    return document.querySelector(".form-row.field-" + name) || document.querySelector(".fieldBox.field-" + name);
  }

  function update() {
    var kind = document.getElementById("id_schedule_kind");
    var task = document.getElementById("id_task_type");
    if (kind) {
      var wanted = KIND_INPUTS[kind.value] || TIMING;
      TIMING.forEach(function (name) {
        var el = row(name);
        if (el) { el.hidden = wanted.indexOf(name) === -1; }
      });
    }
    if (task) {
      var prefix = task.value.toLowerCase() + "-";
      document.querySelectorAll("fieldset.params-fieldset").forEach(function (fieldset) {
        var input = fieldset.querySelector("[name]");
        fieldset.hidden = !!input && input.name.indexOf(prefix) !== 0;
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    ["id_schedule_kind", "id_task_type"].forEach(function (id) {
      var el = document.getElementById(id);
      if (el) { el.addEventListener("change", update); }
    });
    update();
  });
})();
