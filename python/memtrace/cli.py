"""memtrace COMMAND [ARGS...]: one command for recording and reading traces.

The command table below is the only list of subcommands: `memtrace --help`,
`memtrace help CMD` and the dispatch all read it. `run` is the Python
launcher (memtrace/__main__.py), `archive` the archive of runs
(memtrace/archive_cmd.py); the others are the C tools, installed in
the package's bin/ directory by `pip install` (or found in a build tree's
build/bin/ by `make`), and run in place of this process, so their output,
exit status and signals are theirs. The memtrace-CMD names stay as aliases.
"""

import os
import sys

# (name, what it does): run and archive are Python, the rest are
# memtrace-<name> tools.
COMMANDS = (
    ("run", "record a Python program (script.py, -m module, -c code) into a trace"),
    ("analyze", "report a trace: RSS, the heap at its peak by line, leaks, threads"),
    ("plot", "draw a trace: RSS and heap over time with stacks, flame graphs"),
    ("diff", "compare two traces (releases, runs) and gate on growth"),
    ("filter", "cut a trace by time, thread or function into a smaller one"),
    ("decode", "print a trace's records as text, JSON or CSV; check a file"),
    ("poll", "sample the memory of running processes from outside"),
    ("bpf", "trace a running process's malloc/free and RSS into a trace, with bpftrace (root)"),
    ("archive", "keep runs in a catalogue: add, ls, trend across releases, compare, check (CI)"),
    ("help", "print the help of a command"),
    ("completion", "print a shell completion script: eval \"$(memtrace completion bash)\""),
)
NAMES = tuple(name for name, _ in COMMANDS)


def usage():
    import memtrace
    lines = ["usage: memtrace COMMAND [ARGS...]    (memtrace %s)" % memtrace.__version__, "",
             "commands:"]
    lines += ["  %-9s %s" % (name, what) for name, what in COMMANDS]
    lines += ["", "memtrace help COMMAND (or memtrace COMMAND --help) for a command's options.",
              "Start with: memtrace run app.py, then memtrace analyze FILE."]
    return "\n".join(lines) + "\n"


def _usage_error(msg):
    sys.stderr.write("memtrace: %s\nmemtrace: see memtrace --help\n" % msg)
    sys.exit(2)


def tool_path(name):
    """The memtrace-<name> executable: in the package's bin/ (pip install
    builds the tools there; in a build tree it links to build/bin), else on
    PATH (make install). None if none."""
    import shutil
    exe = "memtrace-" + name
    p = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", exe)
    if os.path.isfile(p) and os.access(p, os.X_OK):
        return p
    p = shutil.which(exe)
    # Not the console-script alias of this same package (a Python wrapper
    # that would come back here): only an ELF executable.
    if p:
        try:
            with open(p, "rb") as f:
                if f.read(4) != b"\x7fELF":
                    return None
        except OSError:
            return None
    return p


def exec_tool(name, args):
    """Run memtrace-<name> with args in place of this process."""
    path = tool_path(name)
    if path is None:
        sys.stderr.write("memtrace: %s: memtrace-%s is not installed (pip install builds it "
                         "into the package; in a build tree, run make)\n" % (name, name))
        sys.exit(1)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(path, ["memtrace-" + name] + list(args))


def main(argv=None):
    args = sys.argv[1:] if argv is None else list(argv)
    if not args:
        _usage_error("no command given")
    cmd = args[0]
    if cmd in ("-h", "--help"):
        sys.stdout.write(usage())
        return 0
    if cmd in ("-V", "--version"):
        import memtrace
        sys.stdout.write("memtrace %s\n" % memtrace.__version__)
        return 0
    if cmd == "help":
        if len(args) == 1:
            sys.stdout.write(usage())
            return 0
        if args[1] not in NAMES:
            _usage_error("help: unknown command %r" % args[1])
        return main([args[1], "--help"]) if args[1] != "help" else main(["help"])
    if cmd == "run":
        from memtrace import __main__ as launcher
        return launcher.run_command(args[1:])
    if cmd == "archive":
        from memtrace import archive_cmd
        return archive_cmd.main(args[1:])
    if cmd == "completion":
        rest = args[1:]
        if rest in (["-h"], ["--help"]):
            sys.stdout.write("usage: memtrace completion bash|zsh\n\nPrint a completion script "
                             "for the shell, generated from the command table:\n"
                             "  eval \"$(memtrace completion bash)\"   (in ~/.bashrc)\n"
                             "  eval \"$(memtrace completion zsh)\"    (in ~/.zshrc)\n")
            return 0
        if len(rest) != 1 or rest[0] not in ("bash", "zsh"):
            sys.stderr.write("memtrace completion: give the shell: bash or zsh\n"
                             "memtrace completion: see memtrace completion --help\n")
            return 2
        sys.stdout.write(completion_script(rest[0]))
        return 0
    if cmd in NAMES:
        exec_tool(cmd, args[1:])
    import difflib
    near = difflib.get_close_matches(cmd, NAMES, n=1)
    _usage_error("unknown command %r%s" % (cmd, " (did you mean %r?)" % near[0] if near else ""))


def help_text(name):
    """The --help text of a command (what memtrace help NAME prints)."""
    if name == "run":
        from memtrace import __main__ as launcher
        return launcher.USAGE
    if name == "archive":
        from memtrace import archive_cmd
        return archive_cmd.USAGE
    if name in ("help", "completion"):
        return usage()
    path = tool_path(name)
    if path is None:
        return ""
    import subprocess
    try:
        return subprocess.run([path, "--help"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, universal_newlines=True,
                              timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def options_of(name):
    """The options a command takes, read from its help: the lines that
    describe options start with spaces and a dash."""
    import re
    opts = []
    for line in help_text(name).splitlines():
        m = re.match(r"\s{1,4}(-[-\w].*?)(\s{2,}|$)", line)
        if not m:
            continue
        for o in re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)(?![%\w])", m.group(1)):
            if o not in opts:
                opts.append(o)
    return opts


_BASH = """\
# memtrace completion for bash (memtrace completion bash); generated from
# memtrace's command table and each command's --help.
_memtrace_opts() {
    case "$1" in
%(cases)s
    esac
}
_memtrace() {
    local cur=${COMP_WORDS[COMP_CWORD]} cmd first=1
    case "${COMP_WORDS[0]##*/}" in
        memtrace-*) cmd=${COMP_WORDS[0]##*/memtrace-}; cmd=${cmd#memtrace-}; first=0 ;;
        *)
            if [ "$COMP_CWORD" -eq 1 ]; then
                COMPREPLY=($(compgen -W "%(names)s" -- "$cur"))
                return
            fi
            cmd=${COMP_WORDS[1]} ;;
    esac
    if [ "$cmd" = help ] && [ "$first" = 1 ] && [ "$COMP_CWORD" -eq 2 ]; then
        COMPREPLY=($(compgen -W "%(names)s" -- "$cur"))
        return
    fi
    if [ "$cmd" = completion ]; then
        COMPREPLY=($(compgen -W "bash zsh" -- "$cur"))
        return
    fi
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$(_memtrace_opts "$cmd")" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}
complete -o filenames -o bashdefault -F _memtrace memtrace %(aliases)s
"""


def completion_script(shell):
    names = [n for n, _ in COMMANDS]
    cases = []
    for n in names:
        if n in ("help", "completion"):
            continue
        cases.append("        %s) echo '%s' ;;" % (n, " ".join(options_of(n))))
    script = _BASH % {"cases": "\n".join(cases), "names": " ".join(names),
                      "aliases": " ".join("memtrace-" + n for n in names
                                          if n not in ("run", "archive", "help", "completion"))}
    if shell == "zsh":
        # zsh runs bash completions through bashcompinit.
        script = ("# memtrace completion for zsh (memtrace completion zsh)\n"
                  "autoload -U +X compinit && compinit\n"
                  "autoload -U +X bashcompinit && bashcompinit\n") + script
    return script


def _alias(name):
    def entry():
        exec_tool(name, sys.argv[1:])
    entry.__name__ = name
    entry.__doc__ = "memtrace-%s: the same as memtrace %s" % (name, name)
    return entry


# The memtrace-<name> console scripts (pyproject.toml).
alias_analyze = _alias("analyze")
alias_plot = _alias("plot")
alias_diff = _alias("diff")
alias_filter = _alias("filter")
alias_decode = _alias("decode")
alias_poll = _alias("poll")
alias_bpf = _alias("bpf")
