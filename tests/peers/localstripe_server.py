"""localstripe for Steward's tests: loopback only, nothing on disk, and the
few Stripe behaviours the payment gateway relies on that localstripe lacks.

Usage: python localstripe_server.py PORT [PARENT_PID]

With PARENT_PID it exits once that process is gone, however the parent
ended: the test binary keeps one server for the whole run and never stops
it itself.

Why not `python -m localstripe`:
- its launcher binds every interface (`::`), and a test peer must listen on
  127.0.0.1 only;
- it pickles its whole state to /tmp/localstripe.pickle after every write
  and reloads it at start: parallel test runs (several worktrees, CI jobs)
  would share and overwrite one file. Persistence is switched off here.

What is added, each a documented Stripe behaviour localstripe 1.15.10 does
not have (the Rust gateway is written against Stripe, not against this):
- `Idempotency-Key`: a POST with a key already used (same secret key)
  replays the first response, with `Idempotent-Replayed: true`; the same
  key with different parameters is refused with an `idempotency_error`.
  localstripe ignores the header, so a retried charge would charge twice.
- Card 4000000000000002 declines every charge (localstripe declines it only
  when attached), and a declined charge's error carries Stripe's
  `decline_code` (`generic_decline`) next to `code` and carries the failed
  PaymentIntent, as Stripe's does; a refused card (HTTP 402) is a
  `card_error`, not localstripe's `invalid_request_error` for everything.
- PaymentIntent objects gain the fields Stripe always sends and
  localstripe leaves out (`amount_capturable`, `amount_received`,
  `confirmation_method`, `payment_method_types`, ...), and `latest_charge`
  is the charge's id, as on Stripe, rather than the whole charge: without
  these async-stripe cannot parse a PaymentIntent.
- `allowed_payment_method_types`, the current name of the creation
  parameter, is read as `payment_method_types`, the name localstripe knows.
- `DELETE /_config/webhooks/NAME` removes a webhook endpoint (localstripe
  can only add them), so a finished test stops receiving deliveries.
"""

import asyncio
import hashlib
import logging
import os
import socket
import sys

from aiohttp import web

from localstripe import resources, server, webhooks

# --- No persistence ---------------------------------------------------------

resources.Store.try_load_from_disk = lambda self: None
resources.Store.dump_to_disk = lambda self: None

# --- Newer parameter names -------------------------------------------------

# Stripe's API (2026-09-30, the version async-stripe 1.0.0-rc.10 speaks)
# calls `payment_method_types` `allowed_payment_method_types` on
# PaymentIntent and SetupIntent creation; localstripe knows the old name.
_get_post_data = server.get_post_data


async def _get_post_data_renamed(request, remove_auth=True):
    data = await _get_post_data(request, remove_auth=remove_auth)
    if isinstance(data, dict) and 'allowed_payment_method_types' in data:
        data['payment_method_types'] = data.pop('allowed_payment_method_types')
    return data


server.get_post_data = _get_post_data_renamed

# --- Declines as on Stripe --------------------------------------------------

# Stripe's refused cards are `card_error`s; localstripe calls every error an
# `invalid_request_error`.
_user_error_init = resources.UserError.__init__


def _user_error_init_typed(self, code, message=None, contents=None):
    _user_error_init(self, code, message, contents)
    if code == 402:
        self.body['error']['type'] = 'card_error'


resources.UserError.__init__ = _user_error_init_typed

_CHARGE_DECLINED = {'4000000000000002'}
_charging_is_declined = resources.PaymentMethod._charging_is_declined


def _charging_is_declined_too(self):
    if self.type == 'card' and self._card_number in _CHARGE_DECLINED:
        return True
    return _charging_is_declined(self)


resources.PaymentMethod._charging_is_declined = _charging_is_declined_too


def _raise_failure(self):
    contents = {
        'code': self.failure_code,
        'decline_code': 'generic_decline',
        'charge': self.id,
    }
    if self.payment_intent:
        contents['payment_intent'] = resources.PaymentIntent._api_retrieve(
            self.payment_intent)._export()
    raise resources.UserError(402, self.failure_message, contents)


resources.Charge._raise_failure = _raise_failure

# --- PaymentIntent shape ----------------------------------------------------

_pi_export = resources.PaymentIntent._export


def _payment_intent_export(self, expand=None):
    obj = _pi_export(self, expand=expand)
    charge = obj.get('latest_charge')
    if isinstance(charge, dict) and 'latest_charge' not in (expand or []):
        obj['latest_charge'] = charge['id']
    succeeded = obj.get('status') == 'succeeded'
    defaults = {
        'amount_capturable': 0,
        'amount_received': obj['amount'] if succeeded else 0,
        'automatic_payment_methods': None,
        'canceled_at': None,
        'cancellation_reason': None,
        'confirmation_method': 'automatic',
        'description': None,
        'payment_method_types': ['card'],
        'receipt_email': None,
        'setup_future_usage': None,
        'statement_descriptor': None,
        'statement_descriptor_suffix': None,
    }
    for key, value in defaults.items():
        obj.setdefault(key, value)
    obj.pop('charges', None)
    if obj.get('last_payment_error'):
        obj['last_payment_error'].setdefault('type', 'card_error')
    return obj


resources.PaymentIntent._export = _payment_intent_export

# --- Idempotency keys -------------------------------------------------------

# (secret key, Idempotency-Key) -> (request fingerprint, status, body)
_idempotent = {}
_locks = {}


def _request_fingerprint(request, body):
    return hashlib.sha256(
        request.method.encode() + b' ' + request.path_qs.encode() + b'\n' +
        body).hexdigest()


@web.middleware
async def idempotency_middleware(request, handler):
    if request.method == 'DELETE' and request.path == '/_config/data':
        _idempotent.clear()
        return await handler(request)
    key = request.headers.get('Idempotency-Key')
    if request.method != 'POST' or not key:
        return await handler(request)
    slot = (request.headers.get('Authorization', ''), key)
    lock = _locks.setdefault(slot, asyncio.Lock())
    async with lock:
        body = await request.read()
        fingerprint = _request_fingerprint(request, body)
        saved = _idempotent.get(slot)
        if saved is not None:
            if saved[0] != fingerprint:
                return web.json_response({'error': {
                    'type': 'idempotency_error',
                    'message': 'Keys for idempotent requests can only be '
                               'used with the same parameters they were '
                               'first used with.',
                }}, status=400)
            response = web.Response(body=saved[2], status=saved[1],
                                    content_type='application/json')
            response.headers['Idempotent-Replayed'] = 'true'
            response.headers['Idempotency-Key'] = key
            return response
        response = await handler(request)
        # Stripe saves a result once the endpoint ran: successes and
        # declines; not validation failures, which a retry may fix.
        if 200 <= response.status < 300 or response.status == 402:
            _idempotent[slot] = (fingerprint, response.status, response.body)
        response.headers['Idempotency-Key'] = key
        return response


server.app.middlewares.insert(0, idempotency_middleware)

# --- Removing a webhook endpoint --------------------------------------------


async def delete_webhook(request):
    webhooks._webhooks.pop(request.match_info['id'], None)
    return web.Response()


server.app.router.add_delete('/_config/webhooks/{id}', delete_webhook)

# --- Exit with the parent ---------------------------------------------------


async def _watch_parent(pid):
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass
        await asyncio.sleep(1)


_background = []


def _watch(pid):
    async def start(app):
        _background.append(asyncio.ensure_future(_watch_parent(pid)))
    return start

# --- Start ------------------------------------------------------------------


def main():
    port = int(sys.argv[1])
    if len(sys.argv) > 2:
        server.app.on_startup.append(_watch(int(sys.argv[2])))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(('127.0.0.1', port))
    logging.basicConfig(level=logging.WARNING)
    web.run_app(server.app, sock=sock, access_log=None, print=None)


if __name__ == '__main__':
    main()
