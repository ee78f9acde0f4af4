"""The Report tab, the "who clicked" export and a group's Campaigns tab: who may see them, what they show, and
that the export streams exactly the contacts who clicked with their links and times."""

from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl
import pytest
from django.urls import reverse

from campaigns import services
from campaigns.models import Channel, Delivery, DeliveryStatus
from campaigns.selectors.group_report import group_campaign_stats
from campaigns.selectors.report import campaign_report
from contacts.models import ActivityType, Contact
from segments.models import Membership
from tests.campaigns.test_report import SENT_AT, event, sent_campaign
from tests.conftest import make_user
from tests.factories import ContactFactory, ContactGroupFactory

pytestmark = pytest.mark.django_db
OPEN, CLICK = ActivityType.EMAIL_OPEN, ActivityType.EMAIL_CLICK


@pytest.fixture
def sent(settings):
    """Two groups (Bob in both), five recipients: Ann opens twice, Bob opens and clicks two links, Cyd clicks
    without an open, Dan's delivery failed, Eve does nothing."""
    settings.TIME_ZONE = "Europe/Prague"
    vip, cz = ContactGroupFactory(code="vip", name="VIP"), ContactGroupFactory(code="cz", name="Czechs")
    people = {}
    for name, groups in {"ann": [vip], "bob": [vip, cz], "cyd": [cz], "dan": [cz], "eve": [vip]}.items():
        people[name] = ContactFactory(first_name=name.capitalize(), last_name="Test", email=f"{name}@example.com")
        for group in groups:
            Membership.objects.create(group=group, contact=people[name], via_manual=True)
    campaign = sent_campaign(include=[vip, cz])
    Delivery.objects.filter(campaign=campaign, contact=people["dan"]).update(status=DeliveryStatus.FAILED)
    event(people["ann"], campaign, OPEN, hours=1)
    event(people["ann"], campaign, OPEN, hours=30)
    event(people["bob"], campaign, OPEN, hours=2)
    event(people["bob"], campaign, CLICK, hours=2.1, url="https://shop.example/sale")
    event(people["bob"], campaign, CLICK, hours=2.2, url="https://shop.example/sale")
    event(people["bob"], campaign, CLICK, hours=5, url="https://shop.example/=SUM(A1)")
    event(people["cyd"], campaign, CLICK, hours=3, url="https://shop.example/sale")
    return {"campaign": campaign, "vip": vip, "cz": cz, **people}


def urls(sent):
    campaign = sent["campaign"]
    return [
        reverse("campaigns:campaign_report", args=[campaign.pk]),
        reverse("campaigns:campaign_clicks_export", args=[campaign.pk]),
        reverse("campaigns:group_campaigns", args=[sent["vip"].pk]),
    ]


@pytest.mark.parametrize(("role", "status"), [("Marketer", 200), ("Admin", 200), ("Staff", 403)])
def test_who_may_see_the_report_the_export_and_the_group_tab(client, sent, role, status):
    from contacts.roles import Role

    client.force_login(make_user(Role(role)))
    for url in urls(sent):
        assert client.get(url).status_code == status, url


def test_anonymous_visitors_are_sent_to_sign_in(client, sent):
    for url in urls(sent):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_report_page_shows_the_summary_breakdowns_chart_data_and_who_clicked(marketer_client, sent):
    campaign = sent["campaign"]
    response = marketer_client.get(reverse("campaigns:campaign_report", args=[campaign.pk]))
    page = response.content.decode()
    report = response.context["report"]
    assert (report.total.audience, report.total.sent, report.total.failed) == (5, 4, 1)
    assert (report.total.opened, report.total.opened_seen, report.total.clicked) == (3, 2, 2)
    assert 'data-stat="open-rate">75 %' in page  # 3 of 4 sent
    assert 'data-stat="click-rate">50 %' in page
    assert 'data-stat="opened-by-click">1<' in page  # Cyd clicked without a recorded open
    assert "data-report-tab" in page and 'id="report-chart-data"' in page
    assert "vendor/chart.js/chart.umd.min.js" in page and "js/campaign-report.js" in page
    assert "<script>" not in page.replace('<script id="report-chart-data" type="application/json">', "")
    chart = response.context["chart_data"]
    assert sum(chart["hourly"]["opens"]) == 3 and sum(chart["daily"]["clicks"]) == 4
    assert [c.contact for c in response.context["clickers"]] == [sent["bob"], sent["cyd"]]  # latest click first
    bob = response.context["clickers"][0]
    assert (bob.clicks, {link.url: link.clicks for link in bob.links}) == (
        3,
        {"https://shop.example/sale": 2, "https://shop.example/=SUM(A1)": 1},
    )
    rows = {row.label: row.stats for row in report.by_group}
    assert (rows["VIP"].audience, rows["Czechs"].audience) == (3, 3)  # Bob is in both rows
    assert "A contact in two included groups counts in both rows" in page


def test_a_draft_has_no_report_tab_and_its_report_page_says_why(marketer_client, sent):
    draft = services.campaign_create(name="Draft", channel=Channel.EMAIL, include=[sent["vip"]], subject="x")
    detail = marketer_client.get(reverse("campaigns:campaign_detail", args=[draft.pk])).content.decode()
    assert "data-report-tab" not in detail
    response = marketer_client.get(reverse("campaigns:campaign_report", args=[draft.pk]))
    assert response.status_code == 200 and "data-report-empty" in response.content.decode()
    assert "report" not in response.context


def test_the_csv_export_streams_one_row_per_contact_and_link(marketer_client, sent):
    Contact.objects.filter(pk=sent["cyd"].pk).update(last_name="=1+2")  # a spreadsheet must not run it
    response = marketer_client.get(reverse("campaigns:campaign_clicks_export", args=[sent["campaign"].pk]))
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="clicks-spring-' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["Email", "First name", "Last name", "Contact ID", "Link", "Clicks", "First click", "Last click"]
    local = lambda hours: (SENT_AT + dt.timedelta(hours=hours)).astimezone(dt.timezone(dt.timedelta(hours=1)))  # noqa: E731
    bob, cyd = str(sent["bob"].pk), str(sent["cyd"].pk)
    assert rows[1:] == [
        ["bob@example.com", "Bob", "Test", bob, "https://shop.example/=SUM(A1)", "1", f"{local(5):%Y-%m-%d %H:%M:%S}",
         f"{local(5):%Y-%m-%d %H:%M:%S}"],
        ["bob@example.com", "Bob", "Test", bob, "https://shop.example/sale", "2", f"{local(2.1):%Y-%m-%d %H:%M:%S}",
         f"{local(2.2):%Y-%m-%d %H:%M:%S}"],
        ["cyd@example.com", "Cyd", "'=1+2", cyd, "https://shop.example/sale", "1", f"{local(3):%Y-%m-%d %H:%M:%S}",
         f"{local(3):%Y-%m-%d %H:%M:%S}"],
    ]  # fmt: skip


def test_the_xlsx_export_has_the_same_rows_and_a_bad_format_is_a_400(marketer_client, sent):
    url = reverse("campaigns:campaign_clicks_export", args=[sent["campaign"].pk])
    response = marketer_client.get(url, {"format": "xlsx"})
    assert response.status_code == 200 and response.streaming
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0][0] == "Email" and [(r[0], r[4], r[5]) for r in rows[1:]] == [
        ("bob@example.com", "https://shop.example/=SUM(A1)", 1),
        ("bob@example.com", "https://shop.example/sale", 2),
        ("cyd@example.com", "https://shop.example/sale", 1),
    ]
    assert isinstance(rows[1][6], dt.datetime)
    bad = marketer_client.get(url, {"format": "pdf"})
    assert bad.status_code == 400 and b"format" in bad.content


def test_group_tab_counts_the_recipients_who_were_in_the_group_when_it_was_sent(marketer_client, sent):
    vip, campaign = sent["vip"], sent["campaign"]
    Membership.objects.filter(group=vip, contact=sent["ann"]).delete()  # left after the send: still counted
    Membership.objects.create(group=vip, contact=sent["cyd"], via_manual=True)  # joined after: not counted
    other = services.campaign_create(name="Not sent", channel=Channel.EMAIL, include=[vip], subject="x")

    response = marketer_client.get(reverse("campaigns:group_campaigns", args=[vip.pk]))

    rows = response.context["rows"]
    assert [row.campaign for row in rows] == [campaign]  # drafts are not listed
    row = rows[0]
    assert (row.group.audience, row.group.sent, row.group.opened, row.group.clicked) == (3, 3, 2, 1)  # ann, bob, eve
    assert row.overall == campaign_report(campaign=campaign).total
    assert row.recorded
    page = response.content.decode()
    assert "recipients who were in this group when the campaign was sent" in page and "data-group-campaigns-tab" in page
    assert other.pk not in [r.campaign.pk for r in rows]


def test_group_tab_falls_back_to_current_members_for_unrecorded_deliveries(marketer_client, sent):
    vip, campaign = sent["vip"], sent["campaign"]
    Delivery.objects.filter(campaign=campaign).update(included_groups=None)
    Membership.objects.filter(group=vip, contact=sent["ann"]).delete()
    (row,) = group_campaign_stats(group=vip, campaigns=[campaign])
    assert not row.recorded and (row.group.audience, row.group.opened) == (2, 1)  # bob and eve, today
    response = marketer_client.get(reverse("campaigns:group_campaigns", args=[vip.pk]))
    assert "data-unrecorded-note" in response.content.decode()


def test_group_tab_without_campaigns_says_so(marketer_client):
    group = ContactGroupFactory(code="lonely")
    response = marketer_client.get(reverse("campaigns:group_campaigns", args=[group.pk]))
    assert response.status_code == 200 and "data-group-campaigns-empty" in response.content.decode()


def test_staff_see_no_campaigns_tab_on_a_group(staff_client, sent):
    page = staff_client.get(reverse("segments:group_detail", args=[sent["vip"].pk])).content.decode()
    assert "data-group-campaigns-tab" not in page
