"""channel.k8s.io framing, resize messages, the error-channel Status, exec options and port parameters."""

from __future__ import annotations

import pytest
from multidict import MultiDict

from kubeprov.kubelet.streaming.attach import parse_cri_line
from kubeprov.kubelet.streaming.channels import CLOSE, V1, V4, V4_BASE64, V5, Framing, FramingError
from kubeprov.kubelet.streaming.portforward import PortError, parse_ports
from kubeprov.kubelet.streaming.remotecommand import Options, OptionsError, runc_message
from kubeprov.kubelet.streaming.session import TerminalSize, exit_status, parse_resize


def test_binary_framing_prefixes_the_channel_byte() -> None:
    assert Framing(V4).encode(1, b"out") == b"\x01out"
    assert Framing(V4).decode(b"\x00in") == (0, b"in")


def test_base64_framing_uses_a_channel_digit_and_base64_text() -> None:
    assert Framing(V4_BASE64).encode(2, b"err") == "2ZXJy"
    assert Framing(V4_BASE64).decode("0aGk=") == (0, b"hi")


def test_text_messages_are_accepted_in_the_binary_protocols() -> None:
    assert Framing(V4).decode("\x04{}") == (4, b"{}")


def test_an_empty_message_is_a_framing_error() -> None:
    with pytest.raises(FramingError):
        Framing(V4).decode(b"")


def test_base64_message_without_a_channel_digit_is_a_framing_error() -> None:
    with pytest.raises(FramingError):
        Framing(V4_BASE64).decode("xaGk=")


@pytest.mark.parametrize(("protocol", "version", "close"), [(V5, 5, True), (V4, 4, False), (V1, 1, False),
                                                             ("", 1, False)])
def test_protocol_versions(protocol: str, version: int, close: bool) -> None:
    assert Framing(protocol).version == version
    assert Framing(protocol).has_close is close


def test_v5_close_signal_is_channel_255_naming_the_closed_channel() -> None:
    assert Framing(V5).decode(bytes([CLOSE, 0])) == (CLOSE, b"\x00")


def test_resize_keys_are_case_insensitive_and_several_objects_may_follow_each_other() -> None:
    assert parse_resize(b'{"Width":80,"Height":24}{"width": 100, "height": 40}') == [
        TerminalSize(80, 24), TerminalSize(100, 40)]


def test_a_malformed_resize_yields_nothing() -> None:
    assert parse_resize(b"{not json") == []


def test_success_status_is_what_kubectl_expects() -> None:
    assert exit_status(0) == {"metadata": {}, "status": "Success"}


def test_non_zero_exit_status_carries_the_code_as_an_exit_code_cause() -> None:
    status = exit_status(42)
    assert status["status"] == "Failure" and status["reason"] == "NonZeroExitCode"
    assert status["message"].startswith("command terminated with non-zero exit code: ")
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "42"}]


def test_exec_options_accept_the_input_output_error_names_the_api_server_sends() -> None:
    opts = Options.from_query(MultiDict([("command", "ls"), ("command", "-l"), ("input", "1"), ("output", "1")]))
    assert (opts.command, opts.stdin, opts.stdout, opts.stderr) == (["ls", "-l"], True, True, False)
    assert Options.from_query(MultiDict([("command", "ls"), ("error", "1")])).stderr


def test_a_tty_turns_stderr_off() -> None:
    opts = Options.from_query(MultiDict([("command", "sh"), ("stdout", "true"), ("stderr", "true"), ("tty", "true")]))
    assert opts.tty and not opts.stderr


def test_exec_needs_a_stream() -> None:
    with pytest.raises(OptionsError, match="at least 1 of stdin, stdout, stderr"):
        Options.from_query(MultiDict([("command", "ls")]))


def test_exec_needs_a_command_but_attach_does_not() -> None:
    with pytest.raises(OptionsError, match="at least one command"):
        Options.from_query(MultiDict([("stdout", "true")]))
    assert Options.from_query(MultiDict([("stdout", "true")]), exec_=False).command == []


def test_ports_may_repeat_or_be_comma_separated() -> None:
    assert parse_ports(["8080", "9090,53"]) == [8080, 9090, 53]


@pytest.mark.parametrize("value", ["http", "0", "70000"])
def test_bad_ports_are_rejected(value: str) -> None:
    with pytest.raises(PortError):
        parse_ports([value])


def test_cri_log_lines_give_their_stream_and_text_with_the_newline_only_for_full_lines() -> None:
    assert parse_cri_line(b"2026-01-01T00:00:00.1Z stdout F hello world") == ("stdout", b"hello world\n")
    assert parse_cri_line(b"2026-01-01T00:00:00.1Z stderr P part") == ("stderr", b"part")
    assert parse_cri_line(b"2026-01-01T00:00:00.1Z stdout F") == ("stdout", b"\n")
    assert parse_cri_line(b"garbage") is None


def test_an_exec_that_could_not_start_is_an_internal_error_status() -> None:
    status = exit_status(None, "error executing command in container: boom")
    assert status["reason"] == "InternalError" and status["code"] == 500
    assert status["message"] == "Internal error occurred: error executing command in container: boom"


def test_runcs_message_is_taken_from_its_logfmt_line() -> None:
    line = b'time="2026-01-01T00:00:00Z" level=error msg="exec failed: exec: \\"x\\": executable file not found"\n'
    assert runc_message(line) == 'exec failed: exec: "x": executable file not found'
    assert runc_message(b"plain failure\n") == "plain failure"
