import getpass
import secrets
import sys

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from members.exceptions import LoyaltyError
from members.models import Role, User
from members.services.staff import staff_user_create_or_update


class Command(BaseCommand):
    help = (
        "Create a staff login, or update the role and stores of an existing one. "
        "Cashiers need at least one --store. Without --password a new user is asked for "
        "one (or, when not run from a terminal, gets a generated password printed once); "
        "an existing user keeps their password."
    )

    def add_arguments(self, parser):
        parser.add_argument("email", help=("the login email"))
        parser.add_argument("--role", required=True, choices=Role.values, help=("the staff role"))
        parser.add_argument(
            "--store", dest="stores", action="append", metavar="CODE",
            help=("a store code the user works at; repeat for several (replaces the user's stores)"),
        )
        parser.add_argument("--password", help=("set this password (visible in the shell history)"))
        parser.add_argument(
            "--no-input", "--noinput", dest="interactive", action="store_false",
            help=("never prompt; generate a password for a new user"),
        )

    def handle(self, *args, email, role, stores=None, password=None, interactive=True, **options):
        store_ids = self._store_ids(stores) if stores is not None else None
        exists = User.objects.filter(email__iexact=email.strip()).exists()
        generated = False
        if password is None and not exists:
            if interactive and sys.stdin.isatty():
                password = getpass.getpass(_("Password: "))
                if password != getpass.getpass(_("Password (again): ")):
                    raise CommandError(_("The passwords do not match; nothing was changed."))
            else:
                password = secrets.token_urlsafe(12)
                generated = True
        try:
            result = staff_user_create_or_update(email=email, role=role, store_ids=store_ids, password=password)
        except LoyaltyError as error:
            option = {"email": "EMAIL", "role": "--role", "stores": "--store", "password": "--password"}
            raise CommandError(f"{option.get(error.field, error.field)}: {error.message}") from None
        user = result.user
        codes = ", ".join(user.stores.order_by("code").values_list("code", flat=True)) or "-"
        if result.created:
            self.stdout.write(
                _("Created %(role)s %(email)s (stores: %(stores)s).")
                % {"role": user.role, "email": user.email, "stores": codes}
            )
        elif result.changes:
            self.stdout.write(
                _("Updated existing user %(email)s: %(changes)s (stores: %(stores)s).")
                % {"email": user.email, "changes": ", ".join(result.changes), "stores": codes}
            )
        else:
            self.stdout.write(
                _("User %(email)s already exists as %(role)s (stores: %(stores)s); nothing changed.")
                % {"email": user.email, "role": user.role, "stores": codes}
            )
        if generated:
            self.stdout.write(
                _("Generated password (shown only now): %(password)s") % {"password": password}
            )

    def _store_ids(self, codes: list[str]) -> list[int]:
        store_model = apps.get_model("loyalty", "Store")
        found = dict(store_model.objects.filter(code__in=codes).values_list("code", "pk"))
        unknown = [code for code in codes if code not in found]
        if unknown:
            raise CommandError(
                _("--store: unknown store code(s): %(codes)s. Known codes: %(known)s.")
                % {
                    "codes": ", ".join(unknown),
                    "known": ", ".join(store_model.objects.order_by("code").values_list("code", flat=True)[:50])
                    or "-",
                }
            )
        return [found[code] for code in codes]
