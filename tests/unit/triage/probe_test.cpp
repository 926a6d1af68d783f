#include <doctest/doctest.h>

#include <algorithm>

#include "support/fake_pod_api.hpp"
#include "triage/probe.hpp"

using namespace ir;
using namespace ir::testing;
using namespace ir::triage;
using nlohmann::json;

namespace {

bool has(const std::vector<std::string>& argv, const char* word) {
  return std::find(argv.begin(), argv.end(), word) != argv.end();
}

// /proc/net/tcp and tcp6 as `cat` prints them: a listener, an established connection out (the
// retransmit timer running on the second read), a loopback one, and an IPv6 one out.
std::string tables(bool retransmitting, bool closed) {
  std::string tcp =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
      "   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0 100 0 0 10 "
      "0\n"
      "   2: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 1003 1 0 20 4 30 10 "
      "-1\n";
  if (!closed) {
    tcp += std::string("   1: 0C00F40A:9D58 076433C6:0D05 01 00000010:00000000 ") +
           (retransmitting ? "01:00000055 00000003" : "00:00000000 00000000") +
           "     0        0 1002 1 0 20 4 30 10 -1\n";
  }
  const std::string tcp6 =
      "  sl  local_address                         remote_address                        st tx_queue rx_queue tr "
      "tm->when "
      "retrnsmt   uid  timeout inode\n"
      "   0: 0000000000000000FFFF00000C00F40A:A000 0000000000000000FFFF0000076433C6:01BB 01 00000000:00000000 "
      "00:00000000 00000000     0        0 2001 1 0 20 4 30 10 -1\n";
  return tcp + tcp6;
}

}  // namespace

TEST_CASE("parse_probe_target") {
  auto t = parse_probe_target("198.51.100.7:3333");
  REQUIRE(t);
  CHECK((t->host == "198.51.100.7" && t->port == 3333 && t->text() == "198.51.100.7:3333"));
  auto v6 = parse_probe_target("[2001:db8::1]:443");
  REQUIRE(v6);
  CHECK(v6->host == "2001:db8::1");
  CHECK(v6->text() == "[2001:db8::1]:443");
  CHECK(parse_probe_target("collector.example:443"));
  for (const char* bad : {"", "host", "host:0", "host:65536", "host:x", ":80", "2001:db8::1:443", "-e:80", "a b:80",
                          "[2001:db8::1]443", "[nothex]:80"}) {
    CAPTURE(bad);
    auto r = parse_probe_target(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::usage);
  }
}

TEST_CASE("unprobeable_reason: loopback in any form, the pod itself, its node") {
  const json pod = {{"status",
                     {{"podIP", "10.244.0.12"},
                      {"podIPs", json::array({{{"ip", "10.244.0.12"}}, {{"ip", "fd00::12"}}})},
                      {"hostIP", "192.0.2.2"}}}};
  const json node_obj = {{"status",
                          {{"addresses", json::array({{{"type", "InternalIP"}, {"address", "192.0.2.3"}},
                                                      {{"type", "Hostname"}, {"address", "node-1"}}})}}}};
  const auto a = pod_addresses(pod, node_obj);
  CHECK(a.pod_ips == std::vector<std::string>{"10.244.0.12", "fd00::12"});
  CHECK(a.node_ips == std::vector<std::string>{"192.0.2.2", "192.0.2.3"});
  for (const char* loop : {"127.0.0.1", "127.1", "127.255.0.9", "0x7f.0.0.1", "2130706433", "localhost", "LOCALHOST",
                           "api.localhost", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "0.0.0.0", "::"}) {
    CAPTURE(loop);
    CHECK(unprobeable_reason(loop, a).find("loopback") != std::string::npos);
  }
  CHECK(unprobeable_reason("10.244.0.12", a).find("the pod's own address") != std::string::npos);
  CHECK(unprobeable_reason("fd00:0::12", a).find("the pod's own address") != std::string::npos);
  CHECK(unprobeable_reason("::ffff:10.244.0.12", a).find("the pod's own address") != std::string::npos);
  CHECK(unprobeable_reason("192.0.2.2", a).find("the pod's node") != std::string::npos);
  CHECK(unprobeable_reason("192.0.2.3", a).find("the pod's node") != std::string::npos);
  CHECK(unprobeable_reason("10.244.0.13", a).empty());
  CHECK(unprobeable_reason("collector.example", a).empty());
  CHECK(unprobeable_reason("1270.0.0.1", a).empty());  // not an address at all: a name
}

TEST_CASE("interpret_probe") {
  const std::string busybox_usage =
      "nc: invalid option -- 'z'\nBusyBox v1.35.0 (Debian 1:1.35.0-4+deb12u1+b1) multi-call binary.\n\n"
      "Usage: nc [-iN] [-wN] [-l] [-p PORT] [-f FILE|IPADDR PORT] [-e PROG]\n";
  struct Case {
    int exit_code;
    std::string err;
    ProbeOutcome outcome;
    std::string summary;
  };
  const Case cases[] = {
      {0, "", ProbeOutcome::connected, "connected to 10.0.0.1:80"},
      {0, "Connection to 10.0.0.1 80 port [tcp/http] succeeded!\n", ProbeOutcome::connected,
       "connected to 10.0.0.1:80"},
      {1, busybox_usage, ProbeOutcome::unsupported, "nc exit 1: nc: invalid option -- 'z'"},
      {1, "nc: can't connect to remote host (10.0.0.1): Connection timed out\n", ProbeOutcome::blocked,
       "connection to 10.0.0.1:80 failed (nc exit 1: nc: can't connect to remote host (10.0.0.1): Connection timed "
       "out)"},
      {1, "nc: connect to 10.0.0.1 port 80 (tcp) timed out: Operation now in progress\n", ProbeOutcome::blocked, ""},
      {1, "nc: can't connect to remote host (10.0.0.1): No route to host\n", ProbeOutcome::blocked, ""},
      {1, "Ncat: TIMEOUT.\n", ProbeOutcome::blocked, ""},
      {1, "nc: can't connect to remote host (10.0.0.1): Connection refused\n", ProbeOutcome::refused,
       "connection to 10.0.0.1:80 refused (nc exit 1: nc: can't connect to remote host (10.0.0.1): Connection "
       "refused)"},
      {1, "nc: bad address 'collector.example'\n", ProbeOutcome::unknown,
       "10.0.0.1:80 did not resolve inside the pod (nc exit 1: nc: bad address 'collector.example')"},
      {1, "", ProbeOutcome::unknown, "nc failed without saying why (nc exit 1)"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.err);
    const auto r = interpret_probe("10.0.0.1:80", c.exit_code, c.err);
    CHECK(r.outcome == c.outcome);
    if (!c.summary.empty()) CHECK(r.summary == c.summary);
  }
  // A name is looked up before the connection: a timeout may be DNS's.
  CHECK(
      interpret_probe("collector.example:443", 1, "nc: timed out\n").summary ==
      "connection to collector.example:443 failed (nc exit 1: nc: timed out) (the name is looked up first: DNS may be "
      "what is blocked)");
}

TEST_CASE("established_connections: out of the pod, loopback left out, retransmissions seen") {
  std::size_t more = 0;
  const auto c = established_connections(tables(false, false), 16, &more);
  REQUIRE(c.size() == 2);
  CHECK(c[0].local == "10.244.0.12:40280");
  CHECK(c[0].remote == "198.51.100.7:3333");
  CHECK(c[0].inode == "1002");
  CHECK_FALSE(c[0].retransmitting);
  CHECK(c[1].remote == "[::ffff:198.51.100.7]:443");
  CHECK(more == 0);
  CHECK(established_connections(tables(true, false), 16)[0].retransmitting);
  CHECK(established_connections(tables(false, false), 1, &more).size() == 1);
  CHECK(more == 1);
  CHECK(established_connections("garbage\nmore garbage\n", 16).empty());
}

TEST_CASE("the differential check") {
  RoutedTransport t;
  FakeCredentials creds;
  util::FakeClock clock;
  kube::Client client(test_config(), t, creds, clock);
  const ProbeTarget target{"10.244.0.20", 8080, "pod shop/web-2 port 8080"};
  WireOptions o;
  o.settle = std::chrono::seconds(2);
  o.retry_every = std::chrono::milliseconds(500);
  bool quarantined = false;
  std::string after_err = "nc: can't connect to remote host (10.244.0.20): Connection timed out\n";
  bool retransmitting = true;
  ExecConnector exec([&](const ExecCall& call) {
    if (call.argv[0] == "cat") return ExecReply::output(tables(quarantined && retransmitting, false));
    if (has(call.argv, "-z")) return ExecReply::failure("nc: invalid option -- 'z'\nUsage: nc [-iN] [-wN]\n", 1);
    if (!quarantined || after_err.empty()) return ExecReply::output("");
    return ExecReply::failure(after_err, 1);
  });
  Prober prober(client, exec, "shop", "web-1", "web");
  WireCheck check;

  SUBCASE("reachable before, timed out after: contained, and the nc form is learnt once") {
    probe_before(prober, {target}, o, check);
    quarantined = true;
    probe_after(prober, o, clock, check);
    CHECK(check.verdict == WireVerdict::contained);
    CHECK(check.reason == "10.244.0.20:8080 (pod shop/web-2 port 8080) connected before, timed out after (0.0s)");
    // -z refused once, then -e true every time; a cat before and after.
    std::vector<std::string> shapes;
    for (const auto& c : exec.calls) shapes.push_back(c.argv[0] == "cat" ? "cat" : has(c.argv, "-z") ? "-z" : "-e");
    CHECK(shapes == std::vector<std::string>{"-z", "-e", "cat", "-e", "cat"});
    CHECK(exec.calls[1].argv == std::vector<std::string>{"nc", "-w", "3", "10.244.0.20", "8080", "-e", "true"});
    CHECK(exec.calls[3].argv == std::vector<std::string>{"nc", "-w", "1", "10.244.0.20", "8080", "-e", "true"});
    REQUIRE(check.connections.size() == 2);
    CHECK(check.connections[0].after == "established, retransmitting");
    CHECK(check.connections[0].judgement ==
          "10.244.0.12:40280 -> 198.51.100.7:3333: still open but retransmitting: its packets no longer get through");
  }
  SUBCASE("refused after a connection before: contained (something now rejects)") {
    after_err = "nc: can't connect to remote host (10.244.0.20): Connection refused\n";
    probe_before(prober, {target}, o, check);
    quarantined = true;
    probe_after(prober, o, clock, check);
    CHECK(check.verdict == WireVerdict::contained);
  }
  SUBCASE("still reachable after: retried until the settle time, then NOT contained") {
    after_err.clear();
    retransmitting = false;
    probe_before(prober, {target}, o, check);
    quarantined = true;
    probe_after(prober, o, clock, check);
    CHECK(check.verdict == WireVerdict::not_contained);
    CHECK(check.targets[0].attempts_after == 5);  // at 0, 0.5, 1, 1.5 and 2 s
    CHECK(check.reason ==
          "10.244.0.20:8080 (pod shop/web-2 port 8080) still connected after the quarantine (5 attempts over 2.0s)");
    CHECK(check.connections[0].after == "established");
  }
  SUBCASE("not reachable before: unverified, and not tried again") {
    quarantined = true;
    probe_before(prober, {target}, o, check);
    probe_after(prober, o, clock, check);
    CHECK(check.verdict == WireVerdict::unverified);
    CHECK(check.reason.find("was not reachable before the quarantine") != std::string::npos);
    CHECK_FALSE(check.targets[0].after);
  }
  SUBCASE("several targets: the first that answers is enough") {
    ProbeTarget dead{"10.244.0.99", 80, "the kubernetes Service"};
    std::vector<ProbeTarget> targets = {dead, target};
    ExecConnector two([&](const ExecCall& call) {
      if (call.argv[0] == "cat") return ExecReply::missing();
      if (has(call.argv, "10.244.0.99") || quarantined) return ExecReply::failure("nc: Connection timed out\n", 1);
      return ExecReply::output("");
    });
    Prober p2(client, two, "shop", "web-1", "web");
    probe_before(p2, targets, o, check);
    CHECK(check.targets.size() == 2);
    CHECK(check.connections_note == "existing connections not checked: container web has no cat");
    quarantined = true;
    probe_after(p2, o, clock, check);
    CHECK(check.verdict == WireVerdict::contained);
  }
  SUBCASE("an already isolated pod: blocked after proves nothing, connected after still does") {
    check.targets.push_back({target, std::nullopt, std::nullopt, 0, 0});
    quarantined = true;
    probe_after(prober, o, clock, check);
    CHECK(check.verdict == WireVerdict::unverified);
    CHECK(check.reason.find("was not tried before it (the pod was already isolated)") != std::string::npos);
    WireCheck again;
    again.targets.push_back({target, std::nullopt, std::nullopt, 0, 0});
    after_err.clear();
    probe_after(prober, o, clock, again);
    CHECK(again.verdict == WireVerdict::not_contained);
  }
  SUBCASE("no nc: unknown, never blocked") {
    ExecConnector none([](const ExecCall&) { return ExecReply::missing(); });
    Prober p3(client, none, "shop", "web-1", "web");
    const auto r = p3.connect(target, std::chrono::seconds(1));
    CHECK(r.outcome == ProbeOutcome::unknown);
    CHECK(r.summary == "container web has no nc to probe with");
  }
}
