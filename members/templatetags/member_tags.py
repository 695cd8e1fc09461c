"""Template filters of the members app."""

from django import template

from members.messaging import kind_label

register = template.Library()

register.filter("delivery_kind", kind_label)
