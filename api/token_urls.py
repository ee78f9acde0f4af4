from django.urls import path

from api.views import tokens

app_name = "tokens"

urlpatterns = [
    path("", tokens.TokenListView.as_view(), name="token_list"),
    path("<int:pk>/revoke/", tokens.TokenRevokeView.as_view(), name="token_revoke"),
]
