"""``/``: each user lands on the face their role uses."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from members.permissions import user_home_url


def home(request: HttpRequest) -> HttpResponse:
    """Staff to ``/staff/``, cashiers to ``/till/``, members to ``/me/``, anonymous users to the login page."""
    return redirect(user_home_url(request.user))
