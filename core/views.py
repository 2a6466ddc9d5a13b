from django.shortcuts import render


def placeholder(request, title: str):
    """Stand-in for a page whose real content comes with its own issue."""
    return render(request, "placeholder.html", {"title": title})
