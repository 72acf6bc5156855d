"""One notification to one receiver, with its retries: against a real HTTP server on loopback,
with the waits recorded instead of slept and the signing clock stepped by hand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from streams.edges.notify.backoff import RetryPolicy
from streams.edges.notify.courier import CourierResult, carry
from streams.edges.notify.payload import enforcement_notification
from streams.edges.notify.receivers import receiver
from streams.edges.notify.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
from streams.edges.web.serve import free_loopback_port
from tests.support.notifications import strike_event

SECRET = b"courier-unit-secret-0123456789"
NOTIFICATION = enforcement_notification(strike_event(1))
POLICY = RetryPolicy(tries=4, base_s=1.0, max_s=8.0, timeout_s=5.0)


class Script:
    """Answers each request with the next of `answers` (the last repeated) and keeps what came."""

    def __init__(self, *answers: int | Callable[[], web.StreamResponse]) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[dict[str, str], bytes]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((dict(request.headers), await request.read()))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer() if callable(answer) else web.Response(status=answer)


@pytest_asyncio.fixture
async def serve() -> AsyncIterator[Callable[[Script], Awaitable[str]]]:
    servers: list[TestServer] = []

    async def start(script: Script) -> str:
        app = web.Application()
        app.router.add_post("/hook", script.handle)
        app.router.add_post("/elsewhere", script.handle)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("/hook"))

    yield start
    for server in servers:
        await server.close()


async def offer(url: str, policy: RetryPolicy = POLICY) -> tuple[CourierResult, list[float]]:
    slept: list[float] = []
    clock = iter(range(1_741_586_400, 1_741_586_500))

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async with aiohttp.ClientSession() as session:
        result = await carry(
            session,
            receiver(url),
            NOTIFICATION,
            secrets=[SECRET],
            policy=policy,
            fraction=lambda: 0.0,
            sleep=sleep,
            wall_clock=lambda: float(next(clock)),
        )
    return result, slept


Serve = Callable[[Script], Awaitable[str]]


async def test_delivered_on_the_first_2xx(serve: Serve) -> None:
    script = Script(204)
    result, slept = await offer(await serve(script))
    assert (result.outcome, result.attempts, result.waits_s, slept) == ("delivered", 1, (), [])
    ((headers, body),) = script.requests
    assert body == NOTIFICATION.body
    assert headers["Content-Type"] == "application/json"
    assert headers["Sendgate-Event-Id"] == "strike-acme-1"


async def test_503_twice_then_200_waits_the_doubling_steps(serve: Serve) -> None:
    script = Script(503, 503, 200)
    result, slept = await offer(await serve(script))
    assert (result.outcome, result.attempts) == ("delivered", 3)
    assert list(result.waits_s) == slept == [0.5, 1.0]


async def test_each_try_is_signed_afresh(serve: Serve) -> None:
    script = Script(503, 500, 200)
    await offer(await serve(script))
    stamps = [int(headers[TIMESTAMP_HEADER]) for headers, _ in script.requests]
    assert stamps == [1_741_586_400, 1_741_586_401, 1_741_586_402]
    for (headers, body), stamp in zip(script.requests, stamps, strict=True):
        assert headers[SIGNATURE_HEADER] == "v1=" + signature(SECRET, stamp, body)


async def test_a_receiver_that_never_takes_it_gets_every_try_then_the_result_says_so(
    serve: Serve,
) -> None:
    script = Script(503)
    url = await serve(script)
    result, slept = await offer(url)
    assert (result.outcome, result.attempts, len(script.requests)) == ("retries_exhausted", 4, 4)
    assert slept == [0.5, 1.0, 2.0]
    assert result.reason(receiver(url)) == (
        f"POST {receiver(url).shown} failed 4 times: 503 Service Unavailable"
    )


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
async def test_a_refusal_is_not_tried_again(serve: Serve, status: int) -> None:
    script = Script(status, 200)
    url = await serve(script)
    result, slept = await offer(url)
    assert (result.outcome, result.attempts, slept) == ("refused", 1, [])
    assert len(script.requests) == 1
    assert result.reason(receiver(url)).startswith(f"POST {receiver(url).shown} refused: {status} ")


async def test_a_redirect_is_not_followed(serve: Serve) -> None:
    script = Script(lambda: web.Response(status=307, headers={"Location": "/elsewhere"}), 200)
    result, _ = await offer(await serve(script))
    assert result.outcome == "refused"
    assert len(script.requests) == 1
    assert result.last_failure is not None
    assert result.last_failure.said == "307 Temporary Redirect"


@pytest.mark.parametrize("status", [408, 425, 429])
async def test_not_now_is_tried_again(serve: Serve, status: int) -> None:
    result, _ = await offer(await serve(Script(status, 200)))
    assert (result.outcome, result.attempts) == ("delivered", 2)


async def test_retry_after_lengthens_the_wait(serve: Serve) -> None:
    too_many = Script(lambda: web.Response(status=429, headers={"Retry-After": "6"}), 200)
    result, slept = await offer(await serve(too_many))
    assert slept == [6.0]
    assert result.delivered


async def test_a_receiver_that_does_not_answer_in_time_is_a_timeout(serve: Serve) -> None:
    class Stalling(Script):
        async def handle(self, request: web.Request) -> web.StreamResponse:
            await asyncio.sleep(30)
            return web.Response()

    url = await serve(Stalling())
    policy = RetryPolicy(tries=2, base_s=1.0, max_s=8.0, timeout_s=0.2)
    result, slept = await offer(url, policy)
    assert (result.outcome, result.attempts, slept) == ("retries_exhausted", 2, [0.5])
    assert result.last_failure is not None
    assert (result.last_failure.failure, result.last_failure.said) == (
        "timeout",
        "no answer within 0.2 s",
    )


async def test_nothing_listening_is_a_connection_failure() -> None:
    result, _ = await offer(f"http://127.0.0.1:{free_loopback_port()}/hook")
    assert result.outcome == "retries_exhausted"
    assert result.last_failure is not None
    assert (result.last_failure.failure, result.last_failure.said) == (
        "connection",
        "could not connect",
    )
