"""The stand-in of the ticketing service examples/kubernetes/gateway.yaml's
create_ticket tool calls: POST /api/tickets with a JSON ticket answers
{"id": "T-<n>", "url": ...} and keeps the ticket; GET /api/tickets lists them.

Usage: ticketing.py [PORT]   (default 8080)
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

tickets = []


class Tickets(BaseHTTPRequestHandler):
    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        if self.path != "/api/tickets":
            return self.answer(404, {"error": f"no such path {self.path}"})
        length = int(self.headers.get("Content-Length", 0))
        try:
            ticket = json.loads(self.rfile.read(length))
        except ValueError as error:
            return self.answer(400, {"error": f"not JSON: {error}"})
        if not isinstance(ticket, dict) or not ticket.get("title"):
            return self.answer(400, {"error": "a ticket needs a title"})
        tickets.append(ticket)
        number = len(tickets)
        self.answer(201, {"id": f"T-{number}", "url": f"http://ticketing/tickets/{number}"})

    def do_GET(self):
        if self.path != "/api/tickets":
            return self.answer(404, {"error": f"no such path {self.path}"})
        self.answer(200, tickets)


port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
ThreadingHTTPServer(("0.0.0.0", port), Tickets).serve_forever()
