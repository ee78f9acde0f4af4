from django.contrib.auth.mixins import PermissionRequiredMixin
from django.views.generic import DetailView, ListView

from segments.models import ContactGroup


class GroupListView(PermissionRequiredMixin, ListView):
    permission_required = "segments.view_contactgroup"
    model = ContactGroup
    paginate_by = 50
    template_name = "segments/group_list.html"


class GroupDetailView(PermissionRequiredMixin, DetailView):
    permission_required = "segments.view_contactgroup"
    model = ContactGroup
    template_name = "segments/group_detail.html"
