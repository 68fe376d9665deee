"""``maas completion bash``: a completion script made from the parser itself, so it never lags a new command.

Add ``eval "$(maas completion bash)"`` to ``~/.bashrc`` (zsh: ``autoload -U bashcompinit && bashcompinit``
first). It completes commands, subcommands and options; values (model names, files) are left to the shell.
"""

from __future__ import annotations

import argparse
import shlex


def _words(parser: argparse.ArgumentParser, path: str, table: dict[str, list[str]]) -> None:
    words = [option for action in parser._actions for option in action.option_strings]
    if parser._subparsers is not None:
        for action in parser._subparsers._group_actions:
            for name, child in (getattr(action, "choices", None) or {}).items():
                words.append(name)
                _words(child, f"{path} {name}", table)
    table[path] = sorted(set(words))


def bash_script(parser: argparse.ArgumentParser) -> str:
    table: dict[str, list[str]] = {}
    _words(parser, "maas", table)  # bash keeps no empty key: the command itself is the root
    entries = "\n".join(
        f"  [{shlex.quote(path)}]={shlex.quote(' '.join(words))}" for path, words in sorted(table.items())
    )
    return f"""# bash completion for maas (made by `maas completion bash`)
declare -gA _maas_words=(
{entries}
)
_maas_complete() {{
  local cur="${{COMP_WORDS[COMP_CWORD]}}" key=maas word next
  for word in "${{COMP_WORDS[@]:1:COMP_CWORD-1}}"; do
    next="$key $word"
    [[ -n "${{_maas_words[$next]+set}}" ]] && key="$next"
  done
  COMPREPLY=($(compgen -W "${{_maas_words[$key]}}" -- "$cur"))
}}
complete -F _maas_complete maas
"""
