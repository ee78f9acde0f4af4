from django.urls import path

from webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("", views.EndpointListView.as_view(), name="endpoint_list"),
    path("new/", views.EndpointCreateView.as_view(), name="endpoint_create"),
    path("<int:pk>/", views.EndpointDetailView.as_view(), name="endpoint_detail"),
    path("<int:pk>/edit/", views.EndpointUpdateView.as_view(), name="endpoint_edit"),
    path("<int:pk>/toggle/", views.EndpointToggleView.as_view(), name="endpoint_toggle"),
    path("<int:pk>/secret/", views.SecretRotateView.as_view(), name="secret_rotate"),
    path("<int:pk>/deliveries/<int:delivery_pk>/resend/", views.DeliveryResendView.as_view(), name="delivery_resend"),
]
