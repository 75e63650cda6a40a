"""Rule 7 (no environment at import time) against crafted dodges (docs/architecture.md, "Environment"):
the standard library's readers (``tempfile.gettempdir`` reads TMPDIR, ``shutil.which`` PATH,
``getpass.getuser`` LOGNAME/USER), a decorator imported from another module, a base class whose
``__init_subclass__`` reads it, and a property or method of a module-level instance.
"""

from __future__ import annotations

from pathlib import Path

from tests.architecture_environment import environment_problems
from tests.architecture_tree import crafted_tree as _tree


def test_standard_library_readers_of_the_environment(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"cli/settings.py": (
        "import getpass, shutil, sys, tempfile\nfrom pathlib import Path\n"
        "SCRATCH = Path(tempfile.gettempdir()) / 'swarmscope'\n"
        "IP = shutil.which('ip')\nUSER = getpass.getuser()\n"
        "def main():\n    return shutil.which('ip'), tempfile.mkdtemp()\n"
        "if __name__ == '__main__':\n    sys.exit(main())\n"
    )})  # fmt: skip
    assert environment_problems(root / "cli/settings.py", root) == [
        "line 3: reads tempfile.gettempdir at import time",
        "line 4: reads shutil.which at import time",
        "line 5: reads getpass.getuser at import time",
    ]  # run as a program (``__main__``), the module may read it


def test_code_run_by_naming_a_function_class_or_instance(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "cases/config.py": "import os\ndef register(fn):\n"
                           "    fn.home = os.environ.get('HOME')\n    return fn\n",
        "cases/flow.py": (
            "import os\nfrom swarmscope.cases.config import register\n"
            "@register\ndef step():\n    pass\n"
            "class Base:\n    def __init_subclass__(cls):\n        cls.home = os.environ.get('HOME')\n"
            "class Step(Base):\n    pass\n"
            "class Settings:\n    @property\n    def home(self):\n        return os.environ['HOME']\n"
            "    def path(self):\n        return os.getenv('PATH')\n"
            "SETTINGS = Settings()\nHOME = SETTINGS.home\nPATH = SETTINGS.path()\n"
        ),
    })  # fmt: skip
    assert environment_problems(root / "cases/flow.py", root) == [
        "line 3: hands swarmscope.cases.config.register on at import time, which reads os.environ "
        "(cases/config.py line 3)",
        "line 9: hands Base on at import time, which reads os.environ (line 8)",
        "line 18: hands Settings.home on at import time, which reads os.environ (line 14)",
        "line 19: calls Settings.path() at import time, which reads os.getenv (line 16)",
    ]


def test_library_calls_that_read_the_environment_or_working_directory(tmp_path: Path) -> None:
    """rich's Console reads NO_COLOR/COLUMNS/TERM when made, click/typer's app dir XDG_CONFIG_HOME and ~,
    the terminal size COLUMNS/LINES; ``Path.cwd()``/``.resolve()`` freeze the working directory. Made in
    a function, they read it when the command runs; ``Path(__file__).resolve()`` is absolute already."""
    root = _tree(tmp_path, {"cli/x.py": (
        "import os, shutil\nfrom pathlib import Path\nimport typer\nfrom rich.console import Console\n"
        "err = Console(stderr=True)\nCONFIG = Path(typer.get_app_dir('swarmscope'))\n"
        "WIDTH = shutil.get_terminal_size().columns\nDB = Path.cwd() / 'x.db'\n"
        "R = Path('x').resolve()\nA = os.path.abspath('x')\nH = Path('~').expanduser()\n"
        "HERE = Path(__file__).resolve().parent\n"
        "def console():\n    return Console(stderr=True), Path('x').resolve()\n"
    )})  # fmt: skip
    assert environment_problems(root / "cli/x.py", root) == [
        "line 5: reads rich.console.Console at import time",
        "line 6: reads typer.get_app_dir at import time",
        "line 7: reads shutil.get_terminal_size at import time",
        "line 8: reads pathlib.Path.cwd at import time",
        "line 9: reads .resolve at import time",
        "line 10: reads os.path.abspath at import time",
        "line 11: reads .expanduser at import time",
    ]
