"""The README stays true: every setting is documented."""

from pathlib import Path

from threadline.settings import Settings

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_setting_is_in_the_readme_configuration_table():
    for name in Settings.model_fields:
        variable = f"THREADLINE_{name.upper()}"
        assert f"`{variable}`" in README, f"{variable} is missing from README.md"


def test_the_readme_names_the_two_set_up_commands():
    assert "make serve" in README
    assert "make test" in README
