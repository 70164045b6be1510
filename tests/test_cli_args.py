"""Fast unit tests of the CLI's pure logic: import references, loading user files, choosing
what `modal run` runs, and options parsed from signatures. No server is needed: where a
command runs an app, `App.run` is replaced by a context that only yields the app."""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Optional

import click
import pytest
from click.testing import CliRunner

import modal
from modal.cli import args as cli_args
from modal.cli.entry import main, strip_internal_frames
from modal.cli.import_refs import (
    import_file_or_module,
    parse_import_ref,
    resolve_app,
    resolve_runnable,
)
from modal.exception import _CliUserExecutionError

_counter = 0


def write_module(tmp_path: Path, source: str, stem: str | None = None) -> Path:
    """A user file with a module name no other test uses."""
    global _counter
    _counter += 1
    path = tmp_path / f"{stem or 'userapp'}_{_counter}.py"
    path.write_text(textwrap.dedent(source))
    return path


def load(path: Path, obj: str = ""):
    ref = parse_import_ref(f"{path}::{obj}" if obj else str(path))
    return import_file_or_module(ref), ref


# ---------------------------------------------------------------- parse_import_ref


@pytest.mark.parametrize(
    "ref, expected",
    [
        ("app.py", ("app.py", "", False)),
        ("app.py::main", ("app.py", "main", False)),
        ("dir/app.py::app.main", ("dir/app.py", "app.main", False)),
        ("app.py::Model.predict", ("app.py", "Model.predict", False)),
        ("app.py:main", ("app.py", "main", False)),  # the older single-colon spelling
        ("pkg.mod", ("pkg.mod", "", True)),
        ("pkg.mod::fn", ("pkg.mod", "fn", True)),
    ],
)
def test_parse_import_ref(ref, expected):
    r = parse_import_ref(ref)
    assert (r.file_or_module, r.object_path, r.is_module) == expected


def test_parse_import_ref_forced_module_and_errors():
    assert parse_import_ref("app::f", force_module=True).is_module
    with pytest.raises(click.UsageError):
        parse_import_ref("")
    with pytest.raises(click.UsageError):
        parse_import_ref("::main")


# ---------------------------------------------------------------- loading files


def test_import_file_module_name_path_and_not_main(tmp_path):
    (tmp_path / "helper_mod_for_cli.py").write_text("VALUE = 41\n")
    path = write_module(
        tmp_path,
        """
        import helper_mod_for_cli
        NAME = __name__
        VALUE = helper_mod_for_cli.VALUE + 1
        RAN_MAIN = False
        if __name__ == "__main__":
            RAN_MAIN = True
    """,
    )
    module, _ = load(path)
    assert module.NAME == path.stem != "__main__"
    assert module.VALUE == 42 and module.RAN_MAIN is False
    assert sys.modules[path.stem] is module
    assert str(tmp_path) in sys.path


def test_import_file_user_error_is_wrapped(tmp_path):
    path = write_module(
        tmp_path,
        """
        def helper():
            raise ValueError("boom in user code")
        helper()
    """,
    )
    with pytest.raises(_CliUserExecutionError) as info:
        load(path)
    assert isinstance(info.value.__cause__, ValueError)
    assert info.value.user_source == str(path.resolve())
    assert path.stem not in sys.modules


def test_import_missing_file_and_module(tmp_path):
    with pytest.raises(click.UsageError, match="File not found"):
        import_file_or_module(parse_import_ref(str(tmp_path / "nope.py")))
    with pytest.raises(click.UsageError, match="directory"):
        import_file_or_module(parse_import_ref(str(tmp_path) + "/"))
    with pytest.raises(click.UsageError, match="No module named"):
        import_file_or_module(parse_import_ref("no_such_pkg_xyz.mod"))


def test_import_module_path(tmp_path, monkeypatch):
    pkg = tmp_path / "clipkg_a"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "mod.py").write_text("X = 'from module'\n")
    monkeypatch.chdir(tmp_path)
    module = import_file_or_module(parse_import_ref("clipkg_a.mod"))
    assert module.X == "from module" and module.__name__ == "clipkg_a.mod"


# ---------------------------------------------------------------- choosing what to run

APP_SOURCE = """
    import modal
    app = modal.App("cli-test")

    @app.function()
    def square(x: int) -> int:
        return x * x

    @app.function()
    def gen(n: int = 3):
        yield from range(n)

    @app.cls()
    class Model:
        size: int = modal.parameter(default=1)

        @modal.method()
        def predict(self, text: str) -> str:
            return text * self.size
"""


def app_file(tmp_path, extra=""):
    return write_module(tmp_path, textwrap.dedent(APP_SOURCE) + textwrap.dedent(extra))


def test_single_entrypoint_is_chosen(tmp_path):
    path = app_file(
        tmp_path,
        """
        @app.local_entrypoint()
        def main(n: int = 2):
            pass
    """,
    )
    module, ref = load(path)
    r = resolve_runnable(module, "", ref.file_or_module)
    assert (r.kind, r.name) == ("local entrypoint", "main")


def test_single_function_is_chosen(tmp_path):
    path = write_module(
        tmp_path,
        """
        import modal
        app = modal.App()

        @app.function()
        def only(x: int) -> int:
            return x
    """,
    )
    module, ref = load(path)
    r = resolve_runnable(module, "", ref.file_or_module)
    assert (r.kind, r.name, r.is_generator) == ("function", "only", False)


def test_ambiguity_lists_candidates(tmp_path):
    module, ref = load(app_file(tmp_path))
    with pytest.raises(click.UsageError) as info:
        resolve_runnable(module, "", ref.file_or_module)
    msg = info.value.message
    for name in ("square (function)", "gen (function)", "Model.predict (class method)"):
        assert name in msg
    assert "::" in msg


def test_two_entrypoints_are_ambiguous(tmp_path):
    path = app_file(
        tmp_path,
        """
        @app.local_entrypoint()
        def one():
            pass

        @app.local_entrypoint()
        def two():
            pass
    """,
    )
    module, ref = load(path)
    with pytest.raises(click.UsageError, match="2 local entrypoints"):
        resolve_runnable(module, "", ref.file_or_module)
    assert resolve_runnable(module, "two", ref.file_or_module).name == "two"


@pytest.mark.parametrize(
    "obj, kind, name",
    [
        ("square", "function", "square"),
        ("app.square", "function", "square"),
        ("Model.predict", "class method", "Model.predict"),
        ("app.Model.predict", "class method", "Model.predict"),
        ("Model", "class method", "Model.predict"),  # a class with a single method
        ("renamed", "function", "other_name"),  # a global bound to a function with another tag
    ],
)
def test_explicit_names(tmp_path, obj, kind, name):
    path = app_file(
        tmp_path,
        """
        def _f(x: int) -> int:
            return x
        renamed = app.function(name="other_name")(_f)
    """,
    )
    module, ref = load(path)
    r = resolve_runnable(module, obj, ref.file_or_module)
    assert (r.kind, r.name) == (kind, name)
    assert r.app is module.app


def test_generator_and_method_flags(tmp_path):
    module, ref = load(app_file(tmp_path))
    assert resolve_runnable(module, "gen", ref.file_or_module).is_generator
    method = resolve_runnable(module, "Model.predict", ref.file_or_module)
    assert method.method == "predict" and not method.is_generator


def test_unknown_name_and_no_app(tmp_path):
    module, ref = load(app_file(tmp_path))
    with pytest.raises(click.UsageError, match="'nope' is not a function"):
        resolve_runnable(module, "nope", ref.file_or_module)
    empty, ref2 = load(write_module(tmp_path, "x = 1\n"))
    with pytest.raises(click.UsageError, match="No modal.App found"):
        resolve_runnable(empty, "", ref2.file_or_module)
    bare, ref3 = load(write_module(tmp_path, "import modal\napp = modal.App()\n"))
    with pytest.raises(click.UsageError, match="No functions or local entrypoints"):
        resolve_runnable(bare, "", ref3.file_or_module)


def test_included_function_runs_with_the_including_app(tmp_path):
    path = write_module(
        tmp_path,
        """
        import modal
        other = modal.App("other")

        @other.function()
        def shared(x: int) -> int:
            return x

        app = modal.App("main-app")
        app.include(other)

        @app.local_entrypoint()
        def main():
            pass
    """,
    )
    module, ref = load(path)
    r = resolve_runnable(module, "shared", ref.file_or_module)
    assert r.app is module.app


def test_resolve_app_for_deploy(tmp_path):
    module, ref = load(app_file(tmp_path))
    assert resolve_app(module, "", ref.file_or_module) is module.app
    assert resolve_app(module, "app", ref.file_or_module) is module.app
    with pytest.raises(click.UsageError, match="not a modal.App"):
        resolve_app(module, "square", ref.file_or_module)
    two, ref2 = load(write_module(tmp_path, "import modal\na = modal.App('a')\nb = modal.App('b')\n"))
    with pytest.raises(click.UsageError, match="2 apps"):
        resolve_app(two, "", ref2.file_or_module)
    assert resolve_app(two, "b", ref2.file_or_module) is two.b


# ---------------------------------------------------------------- options from signatures


def command_for(fn, skip_self=False):
    specs = cli_args.param_specs(fn, skip_self=skip_self)
    seen = {}

    @click.pass_context
    def callback(ctx, **values):
        seen["call"] = cli_args.build_call(specs, values, cli_args.given_params(ctx))

    cmd = click.Command(
        "cmd",
        params=cli_args.click_params(specs),
        callback=callback,
        context_settings={"token_normalize_func": cli_args.normalize_token},
    )
    return cmd, seen


def invoke(fn, argv, skip_self=False):
    cmd, seen = command_for(fn, skip_self)
    result = CliRunner().invoke(cmd, argv)
    return result, seen.get("call")


def test_types_and_defaults():
    def f(name: str, n: int, ratio: float, when: datetime, flag: bool = False, label: str = "x"):
        pass

    result, call = invoke(
        f, ["--name", "a", "--n", "3", "--ratio", "0.5", "--when", "2024-01-31T12:30:00+00:00", "--flag"]
    )
    assert result.exit_code == 0, result.output
    args, kwargs = call
    assert args == []
    assert kwargs == {
        "name": "a",
        "n": 3,
        "ratio": 0.5,
        "flag": True,
        "when": datetime(2024, 1, 31, 12, 30, tzinfo=UTC),
    }  # label: default left out


def test_date_only_and_no_flag():
    def f(day: datetime, verbose: bool = True):
        pass

    result, (_, kwargs) = invoke(f, ["--day", "2024-02-29", "--no-verbose"])
    assert result.exit_code == 0, result.output
    assert kwargs == {"day": datetime(2024, 2, 29), "verbose": False}


@pytest.mark.parametrize(
    "argv, param",
    [
        (["--n", "abc"], "--n"),
        (["--n", "1", "--ratio", "fast"], "--ratio"),
        (["--n", "1", "--when", "yesterday"], "--when"),
    ],
)
def test_wrong_type_is_a_usage_error_naming_the_parameter(argv, param):
    def f(n: int, ratio: float = 1.0, when: datetime | None = None):
        pass

    result, call = invoke(f, argv)
    assert result.exit_code == 2 and call is None
    assert f"'{param}'" in result.output


def test_missing_required_option():
    def f(n: int):
        pass

    result, _ = invoke(f, [])
    assert result.exit_code == 2 and "Missing option '--n'" in result.output


def test_underscores_become_dashes_and_both_spellings_work():
    def f(max_items: int = 1, dry_run: bool = False):
        pass

    for argv in (["--max-items", "5", "--dry-run"], ["--max_items", "5", "--dry_run"]):
        result, (_, kwargs) = invoke(f, argv)
        assert result.exit_code == 0, result.output
        assert kwargs == {"max_items": 5, "dry_run": True}


def test_unannotated_parameters_follow_their_default():
    def f(a, b=3, c=1.5, d=True, e=None):
        pass

    specs = {s.name: s for s in cli_args.param_specs(f)}
    assert [specs[k].type for k in "abcde"] == [str, int, float, bool, str]
    assert specs["a"].required and not specs["e"].required


def test_string_annotations_from_future_import(tmp_path):
    path = write_module(
        tmp_path,
        """
        from __future__ import annotations
        import datetime
        from typing import Optional
        def f(a: int, b: Optional[float] = None, c: datetime.datetime | None = None, d: bool = False,
              e: "Unknown | None" = None):
            pass
    """,
    )
    module, _ = load(path)
    with pytest.raises(click.UsageError, match="Parameter `e`"):
        cli_args.param_specs(module.f)

    def g(a: "int", b: "Optional[float]" = None, c: "datetime | None" = None):  # noqa: UP037, UP045
        pass

    assert [s.type for s in cli_args.param_specs(g)] == [int, float, datetime]


def test_unsupported_type_names_the_parameter():
    def f(items: list[int]):
        pass

    with pytest.raises(click.UsageError, match="Parameter `items`.*cannot read"):
        cli_args.param_specs(f)


def test_var_args_positional_only_and_self():
    def f(first: int, /, second: str = "s", *rest, **extra):
        pass

    result, (args, kwargs) = invoke(f, ["--first", "1", "x", "y"])
    assert result.exit_code == 0, result.output
    assert (args, kwargs) == ([1, "s", "x", "y"], {})

    class C:
        def method(self, k: int = 2):
            pass

    result, (args, kwargs) = invoke(C.method, ["--k", "7"], skip_self=True)
    assert result.exit_code == 0 and kwargs == {"k": 7}


def test_bool_without_default_must_be_given():
    def f(enabled: bool):
        pass

    result, _ = invoke(f, [])
    assert result.exit_code == 2
    result, (_, kwargs) = invoke(f, ["--no-enabled"])
    assert kwargs == {"enabled": False}


# ---------------------------------------------------------------- the `modal run` command, without a server


@pytest.fixture
def fake_run(monkeypatch):
    """`App.run` that only yields the app; `Function.remote` that calls the function here."""
    calls = []

    @contextlib.contextmanager
    def run(self, **kwargs):
        calls.append(kwargs)
        yield self

    monkeypatch.setattr(modal.App, "run", run)
    monkeypatch.setattr(modal.Function, "remote", lambda self, *a, **k: self.get_raw_f()(*a, **k))
    monkeypatch.setattr(modal.Function, "remote_gen", lambda self, *a, **k: iter(self.get_raw_f()(*a, **k)))
    return calls


def test_run_command_passes_options(tmp_path, fake_run, monkeypatch):
    monkeypatch.setenv("MODAL_ENVIRONMENT", "main")  # `-e` sets it; restored after the test
    out = tmp_path / "out.txt"
    path = app_file(
        tmp_path,
        f"""
        @app.local_entrypoint()
        def main(n: int, word: str = "hi", loud: bool = False):
            with open({str(out)!r}, "w") as f:
                f.write(repr((n, word, loud)))
    """,
    )
    result = CliRunner().invoke(
        main, ["run", "--detach", "-q", "-e", "staging", str(path), "--n", "4", "--loud"]
    )
    assert result.exit_code == 0, result.output
    assert out.read_text() == "(4, 'hi', True)"
    assert fake_run == [{"detach": True, "interactive": False, "environment_name": "staging"}]
    assert os.environ["MODAL_ENVIRONMENT"] == "staging"

    # The same flags after FUNC_REF work too.
    result = CliRunner().invoke(main, ["run", str(path), "--n", "5", "-q", "--detach", "-i"])
    assert result.exit_code == 0, result.output
    assert out.read_text() == "(5, 'hi', False)"
    assert fake_run[-1] == {"detach": True, "interactive": True, "environment_name": None}


def test_target_parameters_win_over_run_flags_after_the_ref(tmp_path, fake_run):
    out = tmp_path / "out.txt"
    path = app_file(
        tmp_path,
        f"""
        @app.local_entrypoint()
        def main(quiet: bool = False, detach: str = "no"):
            open({str(out)!r}, "w").write(repr((quiet, detach)))
    """,
    )
    result = CliRunner().invoke(main, ["run", "-q", str(path), "--quiet", "--detach", "yes"])
    assert result.exit_code == 0, result.output
    assert out.read_text() == "(True, 'yes')"
    assert fake_run == [{"detach": False, "interactive": False, "environment_name": None}]


def test_run_module_path(tmp_path, fake_run, monkeypatch):
    pkg = tmp_path / "clipkg_b"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "mod.py").write_text(textwrap.dedent(APP_SOURCE))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["run", "-q", "-m", "clipkg_b.mod::square", "--x", "3"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "9"


def test_run_function_prints_results(tmp_path, fake_run):
    path = app_file(tmp_path)
    result = CliRunner().invoke(main, ["run", "-q", f"{path}::square", "--x", "7"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "49"
    result = CliRunner().invoke(main, ["run", "-q", f"{path}::gen", "--n", "3"])
    assert result.output.split() == ["0", "1", "2"]


def test_run_wrong_type_exits_2(tmp_path, fake_run):
    path = app_file(tmp_path)
    result = CliRunner().invoke(main, ["run", "-q", f"{path}::square", "--x", "seven"])
    assert result.exit_code == 2
    assert "'--x'" in result.output and "seven" in result.output
    assert fake_run == []


def test_run_ambiguity_exits_2(tmp_path, fake_run):
    result = CliRunner().invoke(main, ["run", str(app_file(tmp_path))])
    assert result.exit_code == 2 and "square (function)" in result.output


def test_run_user_exception_prints_user_traceback(tmp_path, fake_run):
    path = app_file(
        tmp_path,
        """
        def inner():
            raise RuntimeError("entrypoint failed")

        @app.local_entrypoint()
        def main():
            inner()
    """,
    )
    result = CliRunner().invoke(main, ["run", "-q", str(path)])
    assert result.exit_code == 1
    err = result.stderr if hasattr(result, "stderr") else result.output
    assert "RuntimeError: entrypoint failed" in err
    assert str(path) in err and "inner()" in err
    assert "modal/cli" not in err and "click" not in err


def test_strip_internal_frames_keeps_user_frames(tmp_path):
    path = write_module(tmp_path, "def boom():\n    raise KeyError('k')\n")
    module, _ = load(path)
    try:
        cli_args.build_call([], {})  # an SDK frame before the user's
        module.boom()
    except KeyError as exc:
        stripped = strip_internal_frames(exc)
    files = []
    tb = stripped.__traceback__
    while tb is not None:
        files.append(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next
    assert str(path.resolve()) in files
    assert all("/src/modal/" not in f for f in files)
    assert inspect.isfunction(module.boom)
