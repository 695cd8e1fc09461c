import pytest
from django.core.management import get_commands, load_command_class

OURS = sorted(name for name, app in get_commands().items() if app in {"loyalty", "members", "rewards", "analytics"})


def test_our_commands_are_found():
    assert {"import_purchases", "demo_data", "verify_ledger", "create_staff_user"} <= set(OURS)


@pytest.mark.parametrize("name", OURS)
def test_every_command_prints_its_help(name, capsys):
    command = load_command_class(get_commands()[name], name)
    with pytest.raises(SystemExit) as exit_:
        command.run_from_argv(["manage.py", name, "--help"])
    assert exit_.value.code == 0
    assert "usage:" in capsys.readouterr().out
