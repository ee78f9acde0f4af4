"""Undo of an import: exact restore, refusal when contacts changed since, per role, once only, partial imports."""

from __future__ import annotations

import pytest
from django.db import OperationalError
from django.urls import reverse

from contacts import services as contact_services
from contacts.models import Contact
from contacts.roles import Role
from segments import services as group_services
from segments.models import Cause, ContactGroup, EventKind, Membership, MembershipEvent
from tests.conftest import make_user
from tests.factories import ActivityFactory, ContactFactory, ContactFieldFactory, ContactGroupFactory
from transfers.imports import undo, writing
from transfers.imports.undo import UndoRefused, import_undo, import_undo_plan, import_undo_refusal
from transfers.models import ImportStatus

pytestmark = pytest.mark.django_db

FILE = (
    "Email,First name,Country,Lead score,Plan,Budget\n"
    "jana@x.cz,Jana,Germany,5,pro,100\n"
    "new1@x.cz,New,Czechia,1,free,\n"
    "petr@x.cz,Petr,Austria,0,,\n"
    "new2@x.cz,Other,,,,7\n"
)


@pytest.fixture
def world(db):
    ContactFieldFactory(
        code="plan",
        label="Plan",
        type="choice",
        choices=[{"code": "free", "label": "Free"}, {"code": "pro", "label": "Pro"}],
    )
    ContactFieldFactory(code="budget", label="Budget", type="number")
    jana = ContactFactory(email="Jana@x.cz", first_name="Jana", country="CZ", lead_score=3, custom={"plan": "free"})
    petr = ContactFactory(email="petr@x.cz", first_name="Petr", country="AT", lead_score=0, custom={})
    untouched = ContactFactory(email="other@x.cz", first_name="Untouched")
    group = ContactGroupFactory(code="fair", name="Fair")
    return {"jana": jana, "petr": petr, "untouched": untouched, "group": group}


def snapshot(contact):
    contact = Contact.objects.get(pk=contact.pk)
    return (contact.email, contact.first_name, contact.country.code, contact.lead_score, contact.custom)


def test_undo_restores_exactly_and_removes_the_group_adds_with_history(world, run_import, marketer):
    jana, petr, untouched, group = world["jana"], world["petr"], world["untouched"], world["group"]
    group_services.group_add_contacts(group=group, contacts=Contact.objects.filter(pk=petr.pk))
    before = {c.pk: snapshot(c) for c in (jana, petr, untouched)}
    job = run_import(FILE.encode(), user=marketer, group_id=group.pk)
    assert job.status == ImportStatus.SUCCEEDED, job.error
    assert (job.created, job.updated, job.unchanged) == (2, 1, 1)
    assert snapshot(jana) == ("Jana@x.cz", "Jana", "DE", 5, {"plan": "pro", "budget": 100})
    assert Membership.objects.filter(group=group).count() == 4

    plan = import_undo_plan(job=job)
    assert (plan.created, plan.updated, plan.group_removed, plan.blocker_count) == (2, 1, 3, 0)
    assert plan.sentence == (
        "Delete 2 contacts this import created and restore the previous values of 1 contact it updated; "
        "remove them from the group “Fair” where the import added them."
    )
    import_undo(job=job, user=marketer)

    assert {c.pk: snapshot(c) for c in (jana, petr, untouched)} == before  # custom key added by the import gone
    assert not Contact.objects.filter(email__in=["new1@x.cz", "new2@x.cz"]).exists()
    assert list(Membership.objects.filter(group=group).values_list("contact_id", flat=True)) == [petr.pk]
    left = MembershipEvent.objects.filter(group=group, cause=Cause.IMPORT_UNDO)
    assert list(left.values_list("contact_id", "kind")) == [(jana.pk, EventKind.LEFT)]
    assert ContactGroup.objects.get(pk=group.pk).member_count == 1
    job.refresh_from_db()
    assert job.undone_by == marketer and job.undone_at is not None
    assert import_undo_refusal(job=job, user=marketer) == "This import has already been undone."
    with pytest.raises(UndoRefused, match="already been undone"):
        import_undo(job=job, user=marketer)


def test_a_contact_changed_since_blocks_the_undo_and_nothing_changes(world, run_import, marketer):
    job = run_import(FILE.encode(), user=marketer, group_id=world["group"].pk)
    jana = Contact.objects.get(pk=world["jana"].pk)
    contact_services.contact_update(contact=jana, city="Brno")  # edited by a person since
    created = list(Contact.objects.filter(email__startswith="new").values_list("pk", flat=True))
    ActivityFactory(contact_id=created[0])  # a created contact got an activity since
    state = sorted(Contact.objects.values_list("pk", "first_name", "country", "custom", "updated_at"))
    members = Membership.objects.filter(group=world["group"]).count()

    plan = import_undo_plan(job=job)
    assert plan.blocker_count == 2
    reasons = {b.contact_id: b.reason for b in plan.blockers}
    assert reasons[jana.pk] == "changed since the import (edited, imported again or merged)"
    assert "activities" in reasons[created[0]]
    with pytest.raises(UndoRefused, match="2 contacts of this import changed since") as refused:
        import_undo(job=job, user=marketer)
    assert refused.value.plan is not None and refused.value.plan.blocker_count == 2
    assert sorted(Contact.objects.values_list("pk", "first_name", "country", "custom", "updated_at")) == state
    assert Membership.objects.filter(group=world["group"]).count() == members
    job.refresh_from_db()
    assert job.undone_at is None


def test_a_later_import_a_merge_or_a_delete_block_the_undo(world, run_import, marketer):
    job = run_import(FILE.encode(), user=marketer)
    assert import_undo_plan(job=job).blocker_count == 0
    run_import(b"Email,First name\npetr@x.cz,Peter\n")  # petr was unchanged by the first: still no blocker
    assert import_undo_plan(job=job).blocker_count == 0
    run_import(b"Email,First name\njana@x.cz,Janicka\n")
    new1, new2 = Contact.objects.filter(email__startswith="new").order_by("email")
    contact_services.contact_merge(parent=world["untouched"], child=new1)
    contact_services.contacts_delete(contact_ids=[new2.pk])
    plan = import_undo_plan(job=job)
    assert {b.contact_id: b.reason for b in plan.blockers} == {
        world["jana"].pk: "changed since the import (edited, imported again or merged)",
        new1.pk: "merged into another contact since the import",
        new2.pk: "deleted since the import",
    }


@pytest.mark.parametrize(
    ("role", "own", "allowed"),
    [
        (Role.MARKETER, True, True),
        (Role.MARKETER, False, False),
        (Role.ADMIN, False, True),
        (Role.STAFF, True, False),  # Staff may import but not delete contacts
    ],
)
def test_who_may_undo(world, run_import, role, own, allowed):
    user = make_user(role, username=f"u_{role}")
    creator = user if own else make_user(Role.MARKETER, username="someone_else")
    job = run_import(FILE.encode(), user=creator)
    refusal = import_undo_refusal(job=job, user=user)
    assert (refusal == "") is allowed
    if not allowed:
        assert refusal == "Only the person who ran this import or an admin can undo it."
        with pytest.raises(UndoRefused):
            import_undo(job=job, user=user)
        assert Contact.objects.filter(email="new1@x.cz").exists()
    else:
        import_undo(job=job, user=user)
        assert not Contact.objects.filter(email="new1@x.cz").exists()


def test_a_partly_saved_import_undoes_what_was_saved(world, run_import, marketer, settings, monkeypatch):
    settings.IMPORT_SLICE = 2
    real = writing.contact_services.contacts_upsert
    calls = []

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OperationalError("database is locked")
        return real(**kwargs)

    monkeypatch.setattr(writing.contact_services, "contacts_upsert", flaky)
    job = run_import(FILE.encode(), user=marketer, new_group="Visitors")
    assert job.status == ImportStatus.FAILED and (job.created, job.updated) == (1, 1)
    group = ContactGroup.objects.get(name="Visitors")
    assert import_undo_refusal(job=job, user=marketer) == ""
    import_undo(job=job, user=marketer)
    assert snapshot(world["jana"]) == ("Jana@x.cz", "Jana", "CZ", 3, {"plan": "free"})
    assert not Contact.objects.filter(email="new1@x.cz").exists()
    assert not Membership.objects.filter(group=group).exists()


def test_nothing_to_undo(world, run_import, marketer):
    job = run_import(b"Email,First name\npetr@x.cz,Petr\n", user=marketer)
    assert job.unchanged == 1
    assert import_undo_refusal(job=job, user=marketer) == "This import changed no contact: there is nothing to undo."
    job.status = ImportStatus.RUNNING
    assert import_undo_refusal(job=job) == "Only a finished import can be undone."


def test_an_import_from_before_undo_existed_is_refused(world, run_import, marketer):
    job = run_import(FILE.encode(), user=marketer)
    job.undo_recorded = False  # what the migration sets on older imports
    job.save()
    with pytest.raises(UndoRefused, match="ran before imports could be undone"):
        import_undo(job=job, user=marketer)
    assert Contact.objects.filter(email="new1@x.cz").exists()


def test_a_big_undo_is_set_based(world, run_import, marketer, django_assert_max_num_queries, monkeypatch):
    monkeypatch.setattr(undo, "DELETE_BATCH", 50)
    rows = "".join(f"bulk{i}@x.cz,N{i}\n" for i in range(120)) + "jana@x.cz,J\npetr@x.cz,P\n"
    job = run_import(f"Email,First name\n{rows}".encode(), user=marketer, new_group="Bulk")
    assert (job.created, job.updated) == (120, 2)
    # 3 batches of 50, each a fixed set of statements (a DELETE per table that refers to contacts): ≈ 85 here,
    # never one statement per contact (≥ 120).
    with django_assert_max_num_queries(90):
        import_undo(job=job, user=marketer)
    assert Contact.objects.count() == 3


# --- the pages -------------------------------------------------------------------------------------


def undo_url(job):
    return reverse("transfers:import_undo", args=[job.pk])


def test_the_detail_page_and_the_list_offer_the_undo_with_what_it_will_do(world, run_import, marketer, client):
    job = run_import(FILE.encode(), user=marketer, group_id=world["group"].pk)
    client.force_login(marketer)
    sentence = (
        "Delete 2 contacts this import created and restore the previous values of 1 contact it updated; "
        "remove them from the group “Fair” where the import added them."
    )
    for url in (reverse("transfers:import_detail", args=[job.pk]), reverse("transfers:import_list")):
        page = client.get(url).content.decode()
        assert f'action="{undo_url(job)}"' in page and sentence in page.replace("&ldquo;", "“")
    response = client.post(undo_url(job))
    assert response.status_code == 302 and response.url == reverse("transfers:import_detail", args=[job.pk])
    assert not Contact.objects.filter(email="new1@x.cz").exists()
    page = client.get(response.url).content.decode()
    assert "Import undone: 2 created contacts deleted, 1 updated contact restored." in page
    assert f"Undone by {marketer}" in page and "data-undo-import" not in page
    page = client.get(reverse("transfers:import_list")).content.decode()
    assert "data-undone" in page and "data-undo-import" not in page
    again = client.post(undo_url(job), follow=True)
    assert "This import has already been undone." in again.content.decode()


def test_the_blocked_page_lists_the_contacts_changed_since_and_nothing_changes(world, run_import, marketer, client):
    job = run_import(FILE.encode(), user=marketer)
    jana = Contact.objects.get(pk=world["jana"].pk)
    contact_services.contact_update(contact=jana, city="Brno")
    count = Contact.objects.count()
    client.force_login(marketer)
    response = client.post(undo_url(job))
    assert response.status_code == 409
    page = response.content.decode()
    assert "1 contact of this import changed since; the import cannot be undone." in page
    assert f'href="{jana.get_absolute_url()}"' in page and "Nothing was changed." in page
    assert Contact.objects.count() == count
    job.refresh_from_db()
    assert job.undone_at is None


@pytest.mark.parametrize(
    ("role", "status", "undone"), [(Role.STAFF, 403, False), (Role.MARKETER, 302, False), (Role.ADMIN, 302, True)]
)
def test_undo_of_someone_elses_import_per_role(world, run_import, client, role, status, undone):
    job = run_import(FILE.encode(), user=make_user(Role.MARKETER, username="creator"))
    user = make_user(role, username=f"visitor_{role}")
    client.force_login(user)
    page = client.get(reverse("transfers:import_detail", args=[job.pk])).content.decode()
    assert ("data-undo-import" in page) is undone
    response = client.post(undo_url(job), follow=status == 302)
    assert response.status_code == (200 if status == 302 else status)
    if role == Role.MARKETER:  # may undo their own imports only: told so, nothing changes
        assert "Only the person who ran this import or an admin can undo it." in response.content.decode()
    assert Contact.objects.filter(email="new1@x.cz").exists() is not undone


def test_undo_needs_a_login_and_a_post(world, run_import, client, marketer):
    job = run_import(FILE.encode(), user=marketer)
    response = client.post(undo_url(job))
    assert response.status_code == 302 and "/login/" in response.url
    client.force_login(marketer)
    page = client.get(undo_url(job)).content.decode()  # what an undo would do: changes nothing
    assert "Nothing blocks an undo now: Delete 2 contacts this import created" in page
    assert Contact.objects.filter(email="new1@x.cz").exists()


def test_a_big_undo_runs_in_the_worker_and_a_refusal_there_is_shown(
    world, run_import, marketer, client, settings, monkeypatch, django_capture_on_commit_callbacks
):
    import django_q.conf

    monkeypatch.setattr(django_q.conf.Conf, "SYNC", True)
    settings.IMPORT_UNDO_SYNC_MAX = 2
    client.force_login(marketer)
    job = run_import(FILE.encode(), user=marketer)
    contact_services.contact_update(contact=Contact.objects.get(pk=world["jana"].pk), city="Brno")
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = client.post(undo_url(job), follow=True)
    assert "The undo runs in the background" in response.content.decode()
    job.refresh_from_db()
    assert job.undo_queued_at is not None and job.undone_at is None
    page = client.get(reverse("transfers:import_detail", args=[job.pk])).content.decode()
    assert "data-undo-queued" in page and "data-undo-import" not in page
    assert undo.import_undo_refusal(job=job, user=marketer) == "This import is being undone in the background."
    with django_capture_on_commit_callbacks(execute=True):
        for callback in queued:
            callback()  # the worker: refused, jana changed since
    job.refresh_from_db()
    assert job.undo_queued_at is None and job.undone_at is None
    assert job.undo_error == "1 contact of this import changed since; the import cannot be undone."
    page = client.get(reverse("transfers:import_detail", args=[job.pk])).content.decode()
    assert "data-undo-error" in page and "See which contacts block it" in page
    assert Contact.objects.filter(email="new1@x.cz").exists()

    Contact.objects.filter(pk=world["jana"].pk).update(
        updated_at=job.contacts.get(contact_id=world["jana"].pk).written_at
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(undo_url(job))
    job.refresh_from_db()
    assert job.undone_at is not None and job.undone_by == marketer and job.undo_error == ""
    assert not Contact.objects.filter(email="new1@x.cz").exists()


def test_undo_puts_contacts_back_in_their_accounts_and_deletes_the_accounts_it_created(
    run_import, marketer, monkeypatch
):
    """A company column: the undo restores each updated contact's account (and so its account-held groups) and
    deletes the accounts the import created that nothing holds any more; an account someone used since stays."""
    from contacts.models import Account
    from segments import rechecks
    from segments.models import GroupAccount
    from tests.factories import AccountFactory

    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: None)  # the drain is run below
    acme, globex = AccountFactory(name="Acme"), AccountFactory(name="Globex")
    ann = ContactFactory(email="ann@x.cz", first_name="Ann", account=acme)
    held = ContactGroupFactory(code="acme_people", name="Acme people")
    group_services.group_add_accounts(group=held, accounts=Account.objects.filter(pk=acme.pk))
    assert Membership.objects.filter(group=held, contact=ann, via_account=True).exists()
    job = run_import(
        b"Email,First name,Company\nann@x.cz,Ann,Globex\nnew@x.cz,New,Initech\nnext@x.cz,Next,Umbrella\n",
        user=marketer,
        create_accounts=True,
    )
    assert (job.created, job.updated, job.accounts_created) == (2, 1, 2)
    rechecks.rechecks_drain()
    ann.refresh_from_db()
    assert ann.account == globex and not Membership.objects.filter(group=held, contact=ann).exists()
    umbrella = Account.objects.get(name="Umbrella")
    GroupAccount.objects.create(group=ContactGroupFactory(code="later"), account=umbrella)  # used since
    assert import_undo_plan(job=job).blocker_count == 0

    import_undo(job=job, user=marketer)
    rechecks.rechecks_drain()

    ann.refresh_from_db()
    assert ann.account == acme
    assert Membership.objects.filter(group=held, contact=ann, via_account=True).exists()  # re-checked: back in
    assert set(Account.objects.values_list("name", flat=True)) == {"Acme", "Globex", "Umbrella"}  # Initech gone


def test_an_account_import_cannot_be_undone(db):
    from transfers.imports.jobs import job_create
    from transfers.imports.kinds import ACCOUNTS
    from transfers.imports.pipeline import ImportOptions, import_execute
    from transfers.imports.reading import table_read
    from transfers.models import ImportKind

    admin = make_user(Role.ADMIN)
    data = b"Company Name,Industry\nAcme,Cars\n"
    table = table_read(data=data, file_name="accounts.csv")
    job = job_create(
        data=data,
        file_name="accounts.csv",
        user=admin,
        table=table,
        mapping=ACCOUNTS.guess(table.header),
        options=ImportOptions(),
        kind=ImportKind.ACCOUNTS,
    )
    job = import_execute(job=job)
    assert job.status == ImportStatus.SUCCEEDED, job.error
    assert "cannot be undone" in import_undo_refusal(job=job, user=admin)
    with pytest.raises(UndoRefused):
        import_undo(job=job, user=admin)
