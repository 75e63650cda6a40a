"""Owned libraries that start a process or fetch a URL, against crafted dodges (docs/architecture.md,
rule 6 "Connections"): click/typer's launch/edit/pager, uvicorn's reloader and workers, matplotlib's
animation writers and usetex, weasyprint's default URL fetcher.
"""

from __future__ import annotations

from pathlib import Path

from tests.architecture_network import connection_problems
from tests.architecture_tree import crafted_tree as _tree


def test_launchers_reloaders_and_fetchers_are_refused(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "cli/serve.py": "import typer, click\ndef f(url, text):\n    typer.launch(url)\n"
                        "    click.echo_via_pager(text)\n    return click.edit(text)\n",
        "web/server.py": "import uvicorn\ndef serve(app):\n    uvicorn.run(app, reload=True, workers=2)\n"
                         "    uvicorn.run(app, workers=1, reload=False)\n",
        "research/plots.py": "import matplotlib.pyplot as plt\n"
                             "from matplotlib.animation import FFMpegWriter\ndef plot():\n"
                             "    plt.rc('text', usetex=True)\n"
                             "    plt.rcParams['text.usetex'] = False\n    return FFMpegWriter(fps=1)\n",
        "cases/pdf2.py": "import weasyprint\nfrom weasyprint.urls import default_url_fetcher\n"
                         "def render(html, fetch):\n    weasyprint.HTML(string=html, url_fetcher=fetch)\n"
                         "    return weasyprint.HTML(string=html).write_pdf(), default_url_fetcher('x')\n",
    })  # fmt: skip
    problems = {rel: connection_problems(root / rel, root) for rel in sorted(
        ("cli/serve.py", "web/server.py", "research/plots.py", "cases/pdf2.py"))}  # fmt: skip
    assert problems == {
        "cli/serve.py": [
            "line 3: uses typer.launch, which starts a process",
            "line 4: uses click.echo_via_pager, which starts a process",
            "line 5: uses click.edit, which starts a process",
        ],
        "web/server.py": ["line 3: uvicorn.run() with reload/workers starts processes"],
        "research/plots.py": [
            "line 4: usetex= starts latex",
            "line 5: sets text.usetex, which starts latex",
            "line 6: uses matplotlib.animation.FFMpegWriter, which starts a process",
        ],
        "cases/pdf2.py": [
            "line 5: uses weasyprint.urls.default_url_fetcher, which fetches any URL",
            "line 5: weasyprint.HTML() without url_fetcher= fetches any URL it names",
        ],
    }
