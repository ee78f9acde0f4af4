"""/api/v1/… endpoints, the OpenAPI schema (/api/schema/) and its docs (/api/docs/, /api/redoc/, served locally)."""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib.auth.decorators import login_not_required, login_required
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from api.errors import not_found_view
from api.views import accounts, accounts_bulk, activities, contacts, contacts_bulk, groups, members, preview
from api.views.base import ApiViewMixin

app_name = "api"


class SchemaView(ApiViewMixin, SpectacularAPIView):
    """The schema, for a token or a session (the docs page reads it with the session)."""


class SwaggerView(SpectacularSwaggerSplitView):
    """Swagger UI with its init script served from ?script, not inline (the Content-Security-Policy)."""

    template_name = "api/docs/swagger_ui.html"


# Redoc styles itself by injecting <style> elements (styled-components) and indexes its search in a worker
# made from a blob: this one page allows inline styles and blob: workers. Inline scripts stay forbidden, and
# so does everything from elsewhere (its footer's logo from cdn.redoc.ly is blocked, and then hidden by Redoc).
redoc_view = csp_update({"style-src": [UNSAFE_INLINE], "worker-src": ["blob:"]})(
    SpectacularRedocView.as_view(url_name="api:schema", template_name="api/docs/redoc.html")
)

v1 = [
    path("contacts/", contacts.ContactListView.as_view(), name="contact_list"),
    path("contacts/upsert/", contacts.ContactUpsertView.as_view(), name="contact_upsert"),
    path("contacts/bulk/", contacts_bulk.ContactBulkUpsertView.as_view(), name="contact_bulk"),
    path("contacts/<int:pk>/", contacts.ContactDetailView.as_view(), name="contact_detail"),
    path("contacts/<int:pk>/groups/", contacts.ContactGroupsView.as_view(), name="contact_groups"),
    path("activities/", activities.ActivityCreateView.as_view(), name="activity_create"),
    path("activities/batch/", activities.ActivityBatchView.as_view(), name="activity_batch"),
    path("accounts/", accounts.AccountListView.as_view(), name="account_list"),
    path("accounts/upsert/", accounts_bulk.AccountUpsertView.as_view(), name="account_upsert"),
    path("accounts/bulk/", accounts_bulk.AccountBulkUpsertView.as_view(), name="account_bulk"),
    path("accounts/<int:pk>/", accounts.AccountDetailView.as_view(), name="account_detail"),
    path("groups/", groups.GroupListView.as_view(), name="group_list"),
    path("groups/<str:code>/", groups.GroupDetailView.as_view(), name="group_detail"),
    path("groups/<str:code>/rebuild/", groups.GroupRebuildView.as_view(), name="group_rebuild"),
    path("groups/<str:code>/status/", groups.GroupStatusView.as_view(), name="group_status"),
    path("groups/<str:code>/explain/<int:contact_id>/", groups.GroupExplainView.as_view(), name="group_explain"),
    path("groups/<str:code>/members/", members.GroupMembersView.as_view(), name="group_members"),
    path("groups/<str:code>/members/remove/", members.GroupMembersRemoveView.as_view(), name="group_members_remove"),
    path("groups/<str:code>/accounts/", members.GroupAccountsView.as_view(), name="group_accounts"),
    path("groups/<str:code>/accounts/remove/", members.GroupAccountsRemoveView.as_view(), name="group_accounts_remove"),
    path("preview/", preview.PreviewView.as_view(), name="preview"),
]

urlpatterns = [
    *[path(f"v1/{p.pattern}", p.callback, name=p.name) for p in v1],
    path("schema/", SchemaView.as_view(), name="schema"),
    # Pages for people: signed out, the login page (DRF would answer 401).
    path("docs/", login_required(SwaggerView.as_view(url_name="api:schema")), name="docs"),
    path("redoc/", login_required(redoc_view), name="redoc"),
    # [\s\S], not ".": a path may hold line breaks (%0A and the like), which "." does not match.
    re_path(r"^[\s\S]*$", csrf_exempt(login_not_required(not_found_view))),
]
