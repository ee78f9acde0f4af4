from django.contrib.auth.mixins import PermissionRequiredMixin
from django.views.generic import ListView

from contacts.models import Contact


class ContactListView(PermissionRequiredMixin, ListView):
    permission_required = "contacts.view_contact"
    queryset = Contact.objects.unmerged()
    paginate_by = 50
    template_name = "contacts/contact_list.html"
