"""Share links in the admin: listed for staff, read-only, never with a token."""

from __future__ import annotations

from django.test import TestCase
from django.urls import reverse

from analyzer.tests.factories import TempMediaMixin, make_analysis, make_user
from sharing import services


class ShareLinkAdminTests(TempMediaMixin, TestCase):
    def setUp(self) -> None:
        super().setUp()
        self.analysis = make_analysis(owner=make_user("owner"), original_name="shared take.wav")
        self.new = services.sharelink_create(analysis=self.analysis, days=1)
        services.sharelink_revoke(
            link=services.sharelink_create(analysis=self.analysis, days=30).link
        )
        self.client.force_login(make_user("staff", staff=True))

    def test_it_lists_the_links_with_their_state_and_owner(self) -> None:
        response = self.client.get(reverse("admin:sharing_sharelink_changelist"))

        self.assertContains(response, "shared take.wav – Happy</a>", count=2)
        self.assertContains(response, '<td class="field-owner">owner</td>', count=2, html=True)
        self.assertContains(response, '<td class="field-state">active</td>', html=True)
        self.assertContains(response, '<td class="field-state">revoked</td>', html=True)
        self.assertNotContains(response, self.new.token)
        self.assertNotContains(response, self.new.link.token_hash)

    def test_it_is_read_only(self) -> None:
        link = self.new.link
        self.assertEqual(self.client.get(reverse("admin:sharing_sharelink_add")).status_code, 403)
        change = self.client.get(reverse("admin:sharing_sharelink_change", args=[link.pk]))
        self.assertEqual(change.status_code, 200)
        self.assertNotContains(change, 'name="expires_at"')
        self.assertNotContains(change, self.new.token)
        self.client.post(
            reverse("admin:sharing_sharelink_change", args=[link.pk]),
            {"expires_at_0": "2099-01-01", "expires_at_1": "00:00:00"},
        )
        link.refresh_from_db()
        self.assertLess(link.expires_at.year, 2099)

    def test_plain_users_do_not_get_in(self) -> None:
        self.client.force_login(make_user("plain"))
        response = self.client.get(reverse("admin:sharing_sharelink_changelist"))
        self.assertEqual(response.status_code, 302)
