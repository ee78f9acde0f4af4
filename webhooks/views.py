"""Admin pages of the webhooks: endpoints, their secret, their deliveries log, Resend, enable/disable."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.db.models import Count, Q
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import CreateView, DetailView, ListView, UpdateView

from health.queue import task_queue
from webhooks import services
from webhooks.forms import EndpointForm
from webhooks.models import Delivery, DeliveryStatus, Endpoint

VIEW = "webhooks.view_endpoint"
ADD = "webhooks.add_endpoint"
CHANGE = "webhooks.change_endpoint"


class EndpointListView(PermissionRequiredMixin, ListView):
    permission_required = VIEW
    model = Endpoint
    template_name = "webhooks/endpoint_list.html"
    context_object_name = "endpoints"

    def get_queryset(self) -> Any:
        return Endpoint.objects.annotate(
            pending=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.PENDING)),
            failed=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.FAILED)),
        ).prefetch_related("groups")


def _endpoint_data(form: ModelForm[Any]) -> dict[str, Any]:
    return {name: form.cleaned_data[name] for name in ("url", "events", "groups")}


class EndpointCreateView(PermissionRequiredMixin, CreateView):
    permission_required = ADD
    model = Endpoint
    form_class = EndpointForm
    template_name = "webhooks/endpoint_form.html"

    def form_valid(self, form: ModelForm[Any]) -> HttpResponse:
        self.object = services.endpoint_create(**_endpoint_data(form))
        return redirect(self.get_success_url())

    def get_success_url(self) -> str:
        messages.success(self.request, "Endpoint added. Copy its signing secret now; you can show it again here.")
        assert self.object is not None
        return reverse("webhooks:endpoint_detail", kwargs={"pk": self.object.pk}) + "?secret=1"


class EndpointUpdateView(PermissionRequiredMixin, UpdateView):
    permission_required = CHANGE
    model = Endpoint
    form_class = EndpointForm
    template_name = "webhooks/endpoint_form.html"

    def form_valid(self, form: ModelForm[Any]) -> HttpResponse:
        self.object = services.endpoint_update(endpoint=self.object, **_endpoint_data(form))
        return redirect(self.get_success_url())

    def get_success_url(self) -> str:
        messages.success(self.request, "Endpoint saved.")
        return reverse("webhooks:endpoint_detail", kwargs={"pk": self.object.pk})


class EndpointDetailView(PermissionRequiredMixin, DetailView):
    permission_required = VIEW
    model = Endpoint
    template_name = "webhooks/endpoint_detail.html"
    context_object_name = "endpoint"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(
            deliveries=self.object.deliveries.order_by("-pk")[:100],
            show_secret=self.request.GET.get("secret") == "1",
            **kwargs,
        )


class _EndpointAction(PermissionRequiredMixin, View):
    permission_required = CHANGE

    def act(self, request: HttpRequest, endpoint: Endpoint) -> None:
        raise NotImplementedError

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        endpoint = get_object_or_404(Endpoint, pk=pk)
        self.act(request, endpoint)
        return redirect("webhooks:endpoint_detail", pk=endpoint.pk)


class EndpointToggleView(_EndpointAction):
    def act(self, request: HttpRequest, endpoint: Endpoint) -> None:
        services.endpoint_set_active(endpoint=endpoint, active=not endpoint.active)
        messages.success(request, "Endpoint enabled." if endpoint.active else "Endpoint disabled.")


class SecretRotateView(_EndpointAction):
    def act(self, request: HttpRequest, endpoint: Endpoint) -> None:
        services.endpoint_rotate_secret(endpoint=endpoint)
        messages.success(request, "A new signing secret was made; the old one no longer verifies.")


class DeliveryResendView(PermissionRequiredMixin, View):
    permission_required = CHANGE

    def post(self, request: HttpRequest, pk: int, delivery_pk: int) -> HttpResponse:
        delivery = get_object_or_404(Delivery, pk=delivery_pk, endpoint_id=pk)
        services.delivery_resend(delivery=delivery)
        task_queue("webhooks.tasks.run_webhooks")  # the broker down: kept, queued when it is back
        messages.success(request, f"Delivery #{delivery.pk} queued again ({delivery.event_count} events).")
        return redirect("webhooks:endpoint_detail", pk=pk)
