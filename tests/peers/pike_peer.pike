#!/usr/bin/env pike
// A TLS peer on Pike 8.0's SSL.File, for the interop matrix (tests/interop_matrix.rs).
//
// Same command line and report lines as python_peer.py (see there): a client or server on
// 127.0.0.1 that sends --send while receiving --expect bytes, writes what it received to
// --recv.<connection>, then ends the connection as --close says (answer, initiate, expect,
// drop). It runs SSL.File in callback mode on Pike's backend, the way Pike
// programs use it.
//
// Pike 8.0 facts it relies on: TLS 1.2 is the highest version (PROTOCOL_TLS_MAX); a
// resumed session shows as query_connection()->reuse; the close callback runs for a
// close_notify and for a truncation alike, errno() tells them apart (EPIPE: truncation).
// A failed handshake is reported by no callback at all (is_open() stays 1, errno() 0):
// the connection's state (CONNECTION_failing bits) is watched instead. nonblocking
// write() only queues data: the write callback's next call says it left. The client
// checks the server's name against DNS names only (an IP address fails with
// bad_certificate); --server-name - connects without a name (no SNI, no name check).

constant CHUNK = 65536;

mapping(string:string) opt = ([
  "server-name": "localhost", "close": "answer", "connections": "1", "timeout": "30",
  "client-auth": "none", "expect": "0",
]);
SSL.Context ctx;
string out_data = "";
SSL.Session session;
Stdio.Port listener;

void report(string event, mapping(string:mixed)|void fields)
{
  array(string) parts = ({ event });
  foreach (sort(indices(fields || ([]))), string key)
    parts += ({ key + "=" + (string)fields[key] });
  write(parts * " " + "\n");
}

void fail(int index, string stage, mixed err)
{
  string msg = stringp(err) ? err : describe_error(err);
  report("FAILED", ([ "conn": index, "stage": stage,
                      "error": replace(String.trim_all_whites(msg), "\n", " ") ]));
  exit(2);
}

string pem_body(string pem, string label)
{
  array parts = Standards.PEM.Messages(pem)->parts[label];
  if (!parts) error("no %s in PEM\n", label);
  return parts[0]->body;
}

array(string) pem_certificates(string pem)
{
  return Standards.PEM.Messages(pem)->parts["CERTIFICATE"]->body;
}

void setup_context()
{
  ctx = SSL.Context();
  ctx->min_version = SSL.Constants.PROTOCOL_TLS_1_2;
  if (opt->tls == "1.3") {
    // Pike 8.0 has no TLS 1.3: fail loudly instead of negotiating something else.
    fail(0, "setup", "Pike 8.0 does not implement TLS 1.3");
  }
  if (opt->cert) {
    string key = pem_body(Stdio.read_file(opt->key), "PRIVATE KEY");
    ctx->add_cert(Standards.PKCS.parse_private_key(key),
                  pem_certificates(Stdio.read_file(opt->cert)));
  }
  if (opt->ca) {
    ctx->set_trusted_issuers(({ pem_certificates(Stdio.read_file(opt->ca)) }));
    ctx->verify_certificates = 1;
    ctx->require_trust = 1;
  }
  if (opt->alpn)
    ctx->advertised_protocols = opt->alpn / ",";
  ctx->auth_level = ([ "none": SSL.Constants.AUTHLEVEL_none,
                       "optional": SSL.Constants.AUTHLEVEL_ask,
                       "required": SSL.Constants.AUTHLEVEL_require ])[opt["client-auth"]];
  // The default asks only for RSA client certificates; the test PKI's keys are ECDSA.
  ctx->preferred_auth_methods = ({ SSL.Constants.AUTH_ecdsa_sign,
                                   SSL.Constants.AUTH_rsa_sign });
}

string version_name(int v)
{
  return ([ SSL.Constants.PROTOCOL_TLS_1_0: "TLSv1", SSL.Constants.PROTOCOL_TLS_1_1: "TLSv1.1",
            SSL.Constants.PROTOCOL_TLS_1_2: "TLSv1.2" ])[v] || sprintf("0x%x", v);
}

string peer_common_name(SSL.File f)
{
  array certs = f->get_peer_certificates();
  if (!certs || !sizeof(certs)) return "-";
  string name = Standards.X509.decode_certificate(certs[0])->subject_str();
  return replace(name || "unnamed", " ", "_");
}

// One TLS connection: transfer in both directions, then the close phase.
class Conn
{
  SSL.File f;
  int index;
  int sent;
  String.Buffer received = String.Buffer();
  int expect = (int)opt->expect;
  int closing;
  int handshake_done;
  int flushed;  // all of out_data was handed to the socket

  protected void create(Stdio.File sock, int index_)
  {
    index = index_;
    f = SSL.File(sock, ctx);
    f->set_nonblocking(got_data, send_more, got_close);
    f->set_accept_callback(handshake_completed);
    if (opt->role == "server") {
      f->accept();
    } else if (opt["server-name"] == "-") {
      session = f->connect(0, session);
    } else {
      session = f->connect(opt["server-name"], session);
    }
    call_out(watch_handshake, 0.02);
  }

  // SSL.File calls no callback when a handshake fails: watch the connection's state.
  void watch_handshake()
  {
    if (handshake_done) return;
    SSL.Connection c = f->query_connection();
    if (c && (c->state & SSL.Constants.CONNECTION_failing))
      fail(index, "handshake",
           sprintf("handshake failed with a fatal alert (%s; SSL.File reports it by no "
                   "callback)", c->describe_state()));
    call_out(watch_handshake, 0.02);
  }

  void handshake_completed()
  {
    handshake_done = 1;
    SSL.Connection c = f->query_connection();
    report("HANDSHAKE", ([ "conn": index, "version": version_name(f->query_version()),
                           "alpn": f->query_application_protocol() || "-",
                           "resumed": c->reuse, "peer_cert": peer_common_name(f),
                           "sni": (opt->role == "server" ? f->get_server_name()
                                   : opt["server-name"] != "-" && opt["server-name"]) || "-" ]));
    send_more();
  }

  void send_more()
  {
    if (closing) return;
    if (sent < sizeof(out_data)) {
      int n = f->write(out_data[sent..sent + CHUNK - 1]);
      if (n < 0) fail(index, "transfer", sprintf("write: %s", strerror(f->errno())));
      sent += n;
    }
    if (sent >= sizeof(out_data)) {
      // Called again once the queued data has gone out.
      if (sent_all_calls++) {
        flushed = 1;
        f->set_write_callback(0);
      }
      check_done();
    }
  }
  int sent_all_calls;

  void got_data(mixed id, string data)
  {
    received->add(data);
    if (closing && sizeof(data))
      fail(index, "close", sprintf("%d bytes after the transfer", sizeof(data)));
    check_done();
  }

  void check_done()
  {
    if (closing || !flushed || sizeof(received) < expect) return;
    closing = 1;
    if (opt->recv)
      Stdio.write_file(opt->recv + "." + index, received->get());
    report("RECEIVED", ([ "conn": index, "bytes": expect ]));
    switch (opt->close) {
      case "drop":
        // No close_notify: close the socket under the TLS layer.
        f->query_stream()->close();
        finished("dropped");
        break;
      case "initiate":
        f->close("rw", 1);  // clean close: close_notify, then wait for the answer
        call_out(wait_clean_close, 0.01);
        break;
      default:
        // answer / expect: the close callback tells how the other side ended.
        break;
    }
  }

  void wait_clean_close()
  {
    if (f->is_open() == 2) {
      call_out(wait_clean_close, 0.01);
      return;
    }
    if (f->errno()) fail(index, "close", "clean close: " + strerror(f->errno()));
    finished("initiated");
  }

  void got_close()
  {
    if (!closing)
      fail(index, sent || sizeof(received) ? "transfer" : "handshake",
           sprintf("connection ended: %s (%d/%d bytes received)",
                   f->errno() ? strerror(f->errno()) : "close_notify",
                   sizeof(received), expect));
    if (opt->close == "initiate") return;  // wait_clean_close reports
    string how = f->errno() == System.EPIPE ? "truncated"
      : f->errno() ? "error:" + strerror(f->errno()) : "close_notify";
    if (opt->close == "answer" && how == "close_notify") {
      f->close();
      how = "answered";
    }
    finished(how);
  }

  void finished(string how)
  {
    report("CLOSE", ([ "conn": index, "how": how ]));
    call_out(next_connection, 0, index + 1);
  }
}

void next_connection(int index)
{
  if (index >= (int)opt->connections) {
    report("DONE");
    exit(0);
  }
  if (opt->role == "client") {
    Stdio.File sock = Stdio.File();
    if (!sock->connect("127.0.0.1", (int)opt->port))
      fail(index, "connect", strerror(sock->errno()));
    Conn(sock, index);
  }
  // A server's next connection comes from the listener's accept callback.
}

int accepted;

void accept_connection()
{
  Stdio.File sock = listener->accept();
  if (sock) Conn(sock, accepted++);
}

int main(int argc, array(string) argv)
{
  for (int i = 1; i < argc; i += 2) {
    if (!has_prefix(argv[i], "--") || i + 1 >= argc)
      fail(0, "setup", "usage: pike_peer.pike --option value ...");
    opt[argv[i][2..]] = argv[i + 1];
  }
  setup_context();
  if (opt->send) out_data = Stdio.read_file(opt->send);
  call_out(fail, (float)opt->timeout, 0, "timeout", "no result in time");
  if (opt->role == "server") {
    listener = Stdio.Port(0, accept_connection, "127.0.0.1");
    report("LISTENING", ([ "port": (int)(listener->query_address() / " ")[1] ]));
  } else {
    next_connection(0);
  }
  return -1;
}
