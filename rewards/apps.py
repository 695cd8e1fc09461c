from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RewardsConfig(AppConfig):
    name = "rewards"
    verbose_name = _("Rewards")

    def ready(self) -> None:
        # The catalog's sections of the program file; charities first, since rewards name them.
        from loyalty.services.program_io import program_section_register
        from rewards.services.program_io import charities_export, charities_plan, rewards_export, rewards_plan

        program_section_register("charities", export=charities_export, plan=charities_plan)
        program_section_register("rewards", export=rewards_export, plan=rewards_plan)

        # Seams that lower apps offer (they never import rewards).
        from loyalty.services.stamps import stamp_card_reward_register
        from rewards.privacy import vouchers_privacy_register
        from rewards.services.gifts import stamp_card_vouchers_issue

        vouchers_privacy_register()
        stamp_card_reward_register(stamp_card_vouchers_issue)
