from django.contrib.auth.mixins import PermissionRequiredMixin
from django.views.generic import ListView

from contacts.models import ContactField


class FieldListView(PermissionRequiredMixin, ListView):
    permission_required = "contacts.change_contactfield"
    model = ContactField
    template_name = "contacts/field_list.html"
