"""Staff-entered text that members read, kept in every language (django-modeltranslation)."""

from modeltranslation.translator import TranslationOptions, register

from loyalty.models import Tier


@register(Tier)
class TierTranslationOptions(TranslationOptions):
    fields = ("name", "benefits")
    required_languages = ("en",)
