"""The README stays true: every setting is documented."""

import re
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


ARCHITECTURE = (Path(__file__).parent.parent / "ARCHITECTURE.md").read_text()
SERVICE = Path(__file__).parent.parent / "src" / "threadline" / "service"


def test_architecture_has_a_row_for_every_service_room():
    rooms = sorted(p.name for p in SERVICE.iterdir() if (p / "__init__.py").exists())
    missing = [r for r in rooms if f"| `service/{r}/` |" not in ARCHITECTURE]
    assert missing == [], "ARCHITECTURE.md: add these rooms to the service rooms table"


def test_architecture_names_the_modules_of_each_room():
    for line in ARCHITECTURE.splitlines():
        room = re.match(r"\| `service/(\w+)/` \|", line)
        if room is None:
            continue
        files = (SERVICE / room.group(1)).rglob("*.py")
        present = {p.name for p in files if p.name != "__init__.py"}
        named = set(re.findall(r"`([\w]+\.py)`", line))
        assert named == present, f"service/{room.group(1)}/ in ARCHITECTURE.md"


def test_every_service_path_architecture_names_exists():
    # The places of features not built yet are named on purpose.
    built = re.sub(
        r"### Where the next features go.*?\n## ", "", ARCHITECTURE, flags=re.S
    )
    for path in re.findall(r"`service/([\w/]+(?:\.py)?)`", built):
        assert (SERVICE / path).exists(), f"ARCHITECTURE.md names service/{path}"
