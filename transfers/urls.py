"""Import and export pages, under /imports/ and /exports/ (see config/urls.py)."""

from django.urls import path  # noqa: F401

app_name = "transfers"

urlpatterns: list = []
