"""Staff-entered catalog text that members read, kept in every language (django-modeltranslation)."""

from modeltranslation.translator import TranslationOptions, register

from rewards.models import Charity, Reward


@register(Reward)
class RewardTranslationOptions(TranslationOptions):
    fields = ("name", "description")
    required_languages = ("en",)


@register(Charity)
class CharityTranslationOptions(TranslationOptions):
    fields = ("name",)
    required_languages = ("en",)
