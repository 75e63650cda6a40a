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
