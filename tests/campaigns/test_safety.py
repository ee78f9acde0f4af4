"""The safety rail (campaigns.safety): each reason asks with its numbers above its threshold and not at it, a
confirmation of this very audience sends, a stale one asks again, and a scheduled send whose audience moved
more than 20 % by its time is held instead of sent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail, signing
from django.utils import timezone

from campaigns import safety, sending, services
from campaigns.models import Campaign, CampaignGroup, CampaignStatus, Channel, Delivery, GroupRole
from campaigns.safety import Confirmation, ConfirmationNeeded, Reason, send_checks
from segments.models import GroupSizeSnapshot, Membership
from tests.campaigns.conftest import email_campaign
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def reasons(warnings):
    return [w.reason for w in warnings]


def previous(people, *, recipients, channel=Channel.EMAIL, group="vip", days_ago=3, name="Winter"):
    """An earlier campaign that was sent to `recipients` people of `group`."""
    started = timezone.now() - timedelta(days=days_ago)
    before = Campaign.objects.create(
        name=name, channel=channel, status=CampaignStatus.SENT, send_started_at=started, recipients=recipients
    )
    CampaignGroup.objects.create(campaign=before, group=people[group], role=GroupRole.INCLUDE)
    return before


def join(group, n):
    """n new contacts join `group` (member_count kept true, as the memberships module keeps it)."""
    for _ in range(n):
        contact = ContactFactory()
        Membership.objects.create(group=group, contact=contact, via_manual=True)
    group.member_count = Membership.objects.filter(group=group).count()
    group.save(update_fields=["member_count"])


def test_nothing_surprising_means_no_warning(people):
    campaign = email_campaign(people)
    assert send_checks(campaign=campaign) == []
    safety.preview_record(campaign=campaign, count=5)
    assert send_checks(campaign=campaign) == []


def test_the_audience_far_from_the_last_preview_asks_with_both_numbers(people):
    campaign = email_campaign(people)
    seen = timezone.make_aware(timezone.datetime(2026, 12, 3, 14, 5))
    safety.preview_record(campaign=campaign, count=7200, now=seen)
    campaign.refresh_from_db()
    assert (campaign.last_preview_count, campaign.last_preview_at) == (7200, seen)
    (warning,) = send_checks(campaign=campaign, audience_count=230_000)
    assert warning.reason == Reason.PREVIEW and (warning.value, warning.reference) == (230_000, 7200)
    assert warning.message == "The audience is 230,000 — 32× the last preview (7,200, 3 Dec 2026, 14:05)."
    safety.preview_record(campaign=campaign, count=100, now=seen)
    assert "21 % more than the last preview (100," in send_checks(campaign=campaign, audience_count=121)[0].message
    assert "21 % fewer than the last preview (100," in send_checks(campaign=campaign, audience_count=79)[0].message
    for at_the_threshold in (120, 80, 100):  # exactly 20 % is not "more than 20 %"
        assert send_checks(campaign=campaign, audience_count=at_the_threshold) == []


def test_a_preview_of_a_sent_campaign_is_not_recorded(people):
    campaign = email_campaign(people)
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENT)
    safety.preview_record(campaign=campaign, count=3)
    assert Campaign.objects.get(pk=campaign.pk).last_preview_count is None


def test_an_included_group_that_grew_by_more_than_half_since_yesterday_asks(people):
    campaign = email_campaign(people)  # includes VIP and CZ, excludes Blocked
    today = timezone.localdate()
    vip, blocked = people["vip"], people["blocked"]
    vip.member_count = 150
    vip.save(update_fields=["member_count"])
    GroupSizeSnapshot.objects.create(group=vip, date=today - timedelta(days=1), member_count=100)
    GroupSizeSnapshot.objects.create(group=blocked, date=today - timedelta(days=1), member_count=0)  # excluded
    assert send_checks(campaign=campaign) == []  # exactly half more: no warning
    vip.member_count = 151
    vip.save(update_fields=["member_count"])
    (warning,) = send_checks(campaign=campaign)
    assert warning.reason == Reason.GROUP_GROWTH and (warning.value, warning.reference) == (151, 100)
    assert warning.message == "The group “VIP” has 151 members — 51 % more than the size snapshot of yesterday (100)."
    vip.member_count = 2400
    vip.save(update_fields=["member_count"])
    assert "has 2,400 members — 24× the size snapshot of yesterday (100)" in send_checks(campaign=campaign)[0].message


def test_growth_compares_with_the_latest_snapshot_before_today_at_most_a_week_old(people):
    campaign = email_campaign(people)
    today = timezone.localdate()
    cz = people["cz"]
    cz.member_count = 40
    cz.save(update_fields=["member_count"])
    GroupSizeSnapshot.objects.create(group=cz, date=today, member_count=10)  # tonight's: not "since yesterday"
    GroupSizeSnapshot.objects.create(group=cz, date=today - timedelta(days=8), member_count=10)  # too old
    assert send_checks(campaign=campaign) == []
    GroupSizeSnapshot.objects.create(
        group=cz, date=today - timedelta(days=3), member_count=20
    )  # the nightly run missed two days
    (warning,) = send_checks(campaign=campaign)
    assert warning.reference == 20 and "2× the size snapshot of" in warning.message
    assert "yesterday" not in warning.message


def test_more_than_ten_times_the_previous_send_to_these_groups_asks(people):
    campaign = email_campaign(people)
    previous(people, recipients=50, channel=Channel.SMS, name="Texted")  # another channel: not comparable
    other = previous(people, recipients=1, group="blocked", name="Blocked only")  # only an excluded group
    assert safety.previous_send(campaign=campaign) is None
    before = previous(people, recipients=10, days_ago=5, name="Winter")
    assert safety.previous_send(campaign=campaign) == before
    assert send_checks(campaign=campaign, audience_count=100) == []  # ten times: no warning
    (warning,) = send_checks(campaign=campaign, audience_count=101)
    assert warning.reason == Reason.PREVIOUS_SEND and (warning.value, warning.reference) == (101, 10)
    assert warning.message.startswith("The audience is 101 — 10× the previous send to these groups, “Winter” (10, ")
    latest = previous(people, recipients=7200, group="cz", days_ago=1, name="Autumn")
    assert safety.previous_send(campaign=campaign) == latest
    (warning,) = send_checks(campaign=campaign, audience_count=230_000)
    assert "32× the previous send to these groups, “Autumn” (7,200, " in warning.message
    assert other.pk != latest.pk


def test_several_reasons_are_all_named(people):
    campaign = email_campaign(people)
    safety.preview_record(campaign=campaign, count=7200)
    previous(people, recipients=7200)
    people["cz"].member_count = 100
    people["cz"].save(update_fields=["member_count"])
    GroupSizeSnapshot.objects.create(group=people["cz"], date=timezone.localdate() - timedelta(days=1), member_count=4)
    assert reasons(send_checks(campaign=campaign, audience_count=230_000)) == [
        Reason.PREVIEW,
        Reason.GROUP_GROWTH,
        Reason.PREVIOUS_SEND,
    ]


def test_a_send_past_a_warning_needs_a_confirmation_of_this_audience(
    people, sync_worker, django_capture_on_commit_callbacks
):
    campaign = email_campaign(people)
    safety.preview_record(campaign=campaign, count=3)  # 5 now: 67 % more
    with pytest.raises(ConfirmationNeeded) as asked:
        safety.campaign_send_checked(campaign=campaign)
    assert asked.value.audience == 5 and reasons(asked.value.warnings) == [Reason.PREVIEW] and not asked.value.stale
    assert Campaign.objects.get().status == CampaignStatus.DRAFT and not Delivery.objects.exists()
    token = asked.value.token
    for wrong in (Confirmation(token=token), Confirmation(count=5), Confirmation(token=token, count=4),
                  Confirmation(token="forged", count=5)):  # fmt: skip
        with pytest.raises(ConfirmationNeeded):
            safety.campaign_send_checked(campaign=campaign, confirmation=wrong)
    other = email_campaign(people)
    safety.preview_record(campaign=other, count=3)
    with pytest.raises(ConfirmationNeeded):  # another campaign's confirmation does not count
        safety.campaign_send_checked(campaign=other, confirmation=Confirmation(token=token, count=5))
    assert not Delivery.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        safety.campaign_send_checked(campaign=campaign, confirmation=Confirmation(token=token, count=5))
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT and len(mail.outbox) == 5 and campaign.confirmed_audience == 5


def test_without_warnings_the_send_works_as_before(people, sync_worker, django_capture_on_commit_callbacks):
    campaign = email_campaign(people)
    with django_capture_on_commit_callbacks(execute=True):
        safety.campaign_send_checked(campaign=campaign)
    assert Campaign.objects.get().status == CampaignStatus.SENT and len(mail.outbox) == 5


def test_a_stale_confirmation_asks_again_with_the_new_numbers(people, sync_worker):
    campaign = email_campaign(people)
    safety.preview_record(campaign=campaign, count=3)
    with pytest.raises(ConfirmationNeeded) as asked:
        safety.campaign_send_checked(campaign=campaign)
    confirmed = Confirmation(token=asked.value.token, count=5)
    join(people["vip"], 1)  # the audience changes after the user confirmed it
    with pytest.raises(ConfirmationNeeded) as again:
        safety.campaign_send_checked(campaign=campaign, confirmation=confirmed)
    assert again.value.stale == "The audience changed since you confirmed it (5 then, 6 now): check it again."
    assert again.value.audience == 6 and again.value.token != asked.value.token
    assert not Delivery.objects.exists() and Campaign.objects.get().status == CampaignStatus.DRAFT


def test_a_new_reason_or_an_old_confirmation_asks_again(people, sync_worker, monkeypatch):
    campaign = email_campaign(people)
    safety.preview_record(campaign=campaign, count=3)
    with pytest.raises(ConfirmationNeeded) as asked:
        safety.campaign_send_checked(campaign=campaign)
    # a new reason appears while the audience stays 5: VIP's count grew tenfold since yesterday's snapshot
    people["vip"].member_count = 30
    people["vip"].save(update_fields=["member_count"])
    GroupSizeSnapshot.objects.create(group=people["vip"], date=timezone.localdate() - timedelta(days=1), member_count=3)
    with pytest.raises(ConfirmationNeeded) as again:
        safety.campaign_send_checked(campaign=campaign, confirmation=Confirmation(token=asked.value.token, count=5))
    assert "new reason" in again.value.stale
    token = again.value.token
    real_time = signing.time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() + safety.CONFIRM_MAX_AGE + 5)
    with pytest.raises(ConfirmationNeeded) as expired:
        safety.campaign_send_checked(campaign=campaign, confirmation=Confirmation(token=token, count=5))
    assert "more than an hour old" in expired.value.stale
    assert not Delivery.objects.exists()


def test_a_scheduled_send_is_held_when_its_audience_moved_more_than_20_percent(
    people, sync_worker, django_capture_on_commit_callbacks
):
    campaign = email_campaign(people)
    at = timezone.now() + timedelta(hours=1)
    safety.campaign_send_checked(campaign=campaign, at=at)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED and campaign.confirmed_audience == 5
    join(people["vip"], 1)  # 6: exactly 20 % more — it still goes
    assert not safety.send_hold_if_changed(campaign_id=campaign.pk, now=at)
    join(people["vip"], 2)  # 8: 60 % more
    with django_capture_on_commit_callbacks(execute=True):
        assert sending.sends_start_due(now=at + timedelta(seconds=30)) == []
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.HELD and not Delivery.objects.exists() and not mail.outbox
    assert "the audience was 8 — 60 % more than the 5 confirmed when it was scheduled" in campaign.send_error
    # Sending it again always asks, naming the hold; confirming sends it.
    with pytest.raises(ConfirmationNeeded) as asked:
        safety.campaign_send_checked(campaign=campaign)
    (held,) = asked.value.warnings
    assert held.reason == Reason.HELD and held.message.endswith("The audience is 8 now.")
    with django_capture_on_commit_callbacks(execute=True):
        safety.campaign_send_checked(campaign=campaign, confirmation=Confirmation(token=asked.value.token, count=8))
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT and len(mail.outbox) == 8 and campaign.confirmed_audience == 8


def test_a_scheduled_send_within_20_percent_starts_at_its_time(people, sync_worker, django_capture_on_commit_callbacks):
    campaign = email_campaign(people)
    at = timezone.now() + timedelta(hours=1)
    safety.campaign_send_checked(campaign=campaign, at=at)
    join(people["cz"], 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert sending.sends_start_due(now=at + timedelta(seconds=30)) == [campaign.pk]
    assert Campaign.objects.get().status == CampaignStatus.SENT and len(mail.outbox) == 6


def test_a_send_scheduled_before_the_rail_existed_is_not_held(people, sync_worker, django_capture_on_commit_callbacks):
    campaign = email_campaign(people)
    at = timezone.now() + timedelta(hours=1)
    sending.campaign_send(campaign=campaign, at=at)  # no confirmed count recorded
    join(people["vip"], 5)
    assert not safety.send_hold_if_changed(campaign_id=campaign.pk, now=at)


def test_a_held_campaign_can_still_be_edited(people):
    campaign = email_campaign(people)
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.HELD, send_error="Held.")
    campaign.refresh_from_db()
    assert campaign.is_sendable and campaign.is_unsent and not campaign.is_locked
    services.campaign_update(campaign=campaign, name="Spring v2", channel=Channel.EMAIL, include=[people["vip"]],
                             subject="Hi", body="<p>Hi</p>")  # fmt: skip
    assert Campaign.objects.get().name == "Spring v2"


def test_a_held_campaign_goes_back_to_draft_from_the_sending_tab(people, marketer_client):
    campaign = email_campaign(people)
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.HELD, send_error="Held at its time.")
    page = marketer_client.get(f"/campaigns/{campaign.pk}/sending/")
    assert b"data-held-to-draft" in page.content
    response = marketer_client.post(f"/campaigns/{campaign.pk}/send/", {"action": "cancel"}, follow=True)
    assert "it is a draft again" in response.content.decode()
    campaign.refresh_from_db()
    assert (campaign.status, campaign.send_error, campaign.scheduled_at) == (CampaignStatus.DRAFT, "", None)
    assert not Delivery.objects.exists() and not mail.outbox
    # A draft has nothing to cancel: refused with the reason, nothing changes.
    refused = marketer_client.post(f"/campaigns/{campaign.pk}/send/", {"action": "cancel"}, follow=True)
    assert "Only a scheduled or held campaign" in refused.content.decode()
    assert Campaign.objects.get().status == CampaignStatus.DRAFT
