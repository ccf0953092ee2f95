from __future__ import annotations

import hashlib
from io import StringIO

from django.core.management import CommandError, call_command
from django.test import TestCase
from django.urls import reverse

from analyzer.tests.factories import make_user
from api.models import ApiKey
from api.tests.helpers import KeyClient, bearer, new_key

ANALYSES = "/api/v1/analyses/"


class ApiKeyCommandTests(TestCase):
    def test_it_prints_the_new_key_alone_and_stores_only_its_hash(self) -> None:
        user = make_user("ada")
        out = StringIO()

        call_command("apikey", "create", "ada", "--name", "laptop", stdout=out)

        key = out.getvalue().strip()
        self.assertEqual(out.getvalue(), key + "\n")
        self.assertRegex(key, r"^se_[A-Za-z0-9_-]{40,}$")
        stored = ApiKey.objects.get()
        self.assertEqual((stored.owner, stored.name), (user, "laptop"))
        self.assertEqual(stored.key_hash, hashlib.sha256(key.encode()).hexdigest())
        self.assertTrue(key.startswith(stored.prefix))
        self.assertNotIn(key, str(ApiKey.objects.values_list()))

    def test_it_names_an_unknown_user(self) -> None:
        with self.assertRaisesMessage(CommandError, "There is no user 'nobody'."):
            call_command("apikey", "create", "nobody", stdout=StringIO())


class BearerAuthTests(TestCase):
    def test_it_lets_a_key_in_and_notes_its_use(self) -> None:
        make_user("ada")
        key = new_key("ada")

        response = KeyClient(key).get(ANALYSES)

        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["results"], [])
        self.assertIsNotNone(ApiKey.objects.get().last_used_at)

    def test_it_refuses_no_key_with_a_json_401(self) -> None:
        response = self.client.get(ANALYSES)

        self.assertEqual(response.status_code, 401)
        self.assertIn("Bearer", response["WWW-Authenticate"])
        self.assertIn("credentials were not provided", response.json()["detail"])

    def test_it_refuses_an_unknown_key_with_a_json_401(self) -> None:
        response = self.client.get(ANALYSES, **bearer("se_not-a-key"))

        self.assertEqual(response.status_code, 401)
        self.assertEqual(response.json(), {"detail": "The API key is unknown or has been revoked."})

    def test_it_refuses_a_revoked_key(self) -> None:
        user = make_user("ada")
        key = new_key("ada")
        self.client.force_login(user)
        self.client.post(reverse("api:key_revoke", args=[ApiKey.objects.get().pk]))

        response = KeyClient(key).get(ANALYSES)

        self.assertEqual(response.status_code, 401)
        self.assertEqual(response.json(), {"detail": "The API key is unknown or has been revoked."})

    def test_it_lets_the_signed_in_browser_in_too(self) -> None:
        self.client.force_login(make_user("ada"))

        self.assertEqual(self.client.get(ANALYSES).status_code, 200)


class KeyPageTests(TestCase):
    def test_it_asks_to_sign_in_first(self) -> None:
        response = self.client.get(reverse("api:keys"))

        self.assertRedirects(response, f"{reverse('login')}?next={reverse('api:keys')}")

    def test_it_is_linked_from_the_header_when_signed_in(self) -> None:
        self.client.force_login(make_user("ada"))

        response = self.client.get(reverse("analyzer:upload"))

        self.assertContains(response, f'href="{reverse("api:keys")}"')

    def test_it_shows_a_new_key_once_and_that_key_works(self) -> None:
        self.client.force_login(make_user("ada"))

        response = self.client.post(reverse("api:keys"), {"name": "laptop script"})

        key = response.context["new_key"].key
        self.assertContains(response, key)
        self.assertContains(response, "shown only this once")
        self.assertIn("no-store", response["Cache-Control"])
        page = self.client.get(reverse("api:keys"))
        self.assertNotContains(page, key)
        self.assertContains(page, "laptop script")
        self.assertContains(page, ApiKey.objects.get().prefix + "…")
        self.assertEqual(KeyClient(key).get(ANALYSES).status_code, 200)

    def test_it_renames_and_revokes_a_key(self) -> None:
        self.client.force_login(make_user("ada"))
        new_key("ada", "old name")
        api_key = ApiKey.objects.get()

        self.client.post(reverse("api:key_rename", args=[api_key.pk]), {"name": "new name"})
        response = self.client.post(reverse("api:key_revoke", args=[api_key.pk]), follow=True)

        self.assertContains(response, "new name")
        self.assertContains(response, "is revoked")
        self.assertContains(response, "revoked ")
        self.assertNotContains(response, ">Revoke</button>")

    def test_it_never_touches_another_users_key(self) -> None:
        make_user("bob")
        new_key("bob")
        api_key = ApiKey.objects.get()
        self.client.force_login(make_user("ada"))

        revoke = self.client.post(reverse("api:key_revoke", args=[api_key.pk]))
        page = self.client.get(reverse("api:keys"))

        self.assertEqual(revoke.status_code, 404)
        self.assertIsNone(ApiKey.objects.get().revoked_at)
        self.assertNotContains(page, api_key.prefix)


class ApiKeyAdminTests(TestCase):
    def test_it_lets_staff_revoke_a_key_without_showing_its_hash(self) -> None:
        make_user("bob")
        key = new_key("bob", "bob's script")
        api_key = ApiKey.objects.get()
        self.client.force_login(make_user("root", staff=True))

        listing = self.client.get(reverse("admin:api_apikey_changelist"))
        page = self.client.get(reverse("admin:api_apikey_change", args=[api_key.pk]))
        self.client.post(
            reverse("admin:api_apikey_changelist"),
            {"action": "revoke", "_selected_action": [api_key.pk]},
        )

        self.assertContains(listing, "bob&#x27;s script")
        self.assertNotContains(page, api_key.key_hash)
        self.assertEqual(KeyClient(key).get(ANALYSES).status_code, 401)
