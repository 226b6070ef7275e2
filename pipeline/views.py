"""The delivery dashboard page: staff only, drawn inside the admin's own layout."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from pipeline.dashboard import chart_build, dashboard_stats


@staff_member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """Today's and the last 14 days' delivery figures with a delivered/failed chart."""
    stats = dashboard_stats()
    context = {
        **admin.site.each_context(request),
        "title": "Delivery dashboard",
        "stats": stats,
        "chart": chart_build(days=stats.days),
    }
    return render(request, "pipeline/dashboard.html", context)
