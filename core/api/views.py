"""The base of every API class of the project."""

from __future__ import annotations

from rest_framework.views import APIView

from core.api.errors import DETAIL


class BaseApi(APIView):
    """An API endpoint; a second mount may pass ``error_format="flat"`` (see ``core.api.errors``)."""

    error_format: str = DETAIL
