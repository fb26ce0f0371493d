package dnsplugin_test

// Queries and what their answers must be: the DNS side of the end-to-end
// tests.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/egressgate/egressgate/internal/testenv"
)

// query sends one question over proto ("udp" or "tcp") from the source
// address from (any loopback address when empty).
func (cl *cluster) query(proto, from, name string, qtype uint16, edns bool) (*dns.Msg, error) {
	c := &dns.Client{Net: proto, Timeout: queryTimeout}
	if from != "" {
		ip := net.ParseIP(from)
		if proto == "tcp" {
			c.Dialer = &net.Dialer{Timeout: queryTimeout, LocalAddr: &net.TCPAddr{IP: ip}}
		} else {
			c.Dialer = &net.Dialer{Timeout: queryTimeout, LocalAddr: &net.UDPAddr{IP: ip}}
		}
	}
	m := new(dns.Msg).SetQuestion(name, qtype)
	if edns {
		m.SetEdns0(1232, true)
	}
	r, _, err := c.Exchange(m, cl.dns)
	if err != nil {
		return nil, fmt.Errorf("%s %s over %s from %q: %w", name, dns.TypeToString[qtype], proto, from, err)
	}
	return r, nil
}

// expect is what an answer must be: its rcode and the answer values (A and
// AAAA addresses, CNAME targets, HTTPS records as text) in any order.
type expect struct {
	rcode  int
	values []string
}

func (e expect) String() string {
	return fmt.Sprintf("%s %v", dns.RcodeToString[e.rcode], e.values)
}

func values(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, rr.A.String())
		case *dns.AAAA:
			out = append(out, rr.AAAA.String())
		case *dns.CNAME:
			out = append(out, "CNAME "+rr.Target)
		default:
			out = append(out, strings.TrimPrefix(rr.String(), rr.Header().String()))
		}
	}
	slices.Sort(out)
	return out
}

func (cl *cluster) check(proto, from, name string, qtype uint16, want expect) error {
	r, err := cl.query(proto, from, name, qtype, false)
	if err != nil {
		return err
	}
	got := expect{rcode: r.Rcode, values: values(r)}
	wantSorted := slices.Clone(want.values)
	slices.Sort(wantSorted)
	if got.rcode != want.rcode || !slices.Equal(got.values, wantSorted) {
		return fmt.Errorf("%s %s over %s from %q: got %v, want %v", name, dns.TypeToString[qtype], proto, from, got, expect{want.rcode, wantSorted})
	}
	return nil
}

// eventually polls check until it passes or the named timeout ends.
func eventually(t *testing.T, what string, timeout time.Duration, check func() error) {
	t.Helper()
	testenv.Eventually(t, what, timeout, check)
}

// both runs check over UDP and TCP.
func both(check func(proto string) error) error {
	for _, proto := range []string{"udp", "tcp"} {
		if err := check(proto); err != nil {
			return err
		}
	}
	return nil
}

var (
	noError  = func(v ...string) expect { return expect{rcode: dns.RcodeSuccess, values: v} }
	servFail = expect{rcode: dns.RcodeServerFailure}
)

// rawExchange sends m as it is (no checks by the client library) over UDP.
func rawExchange(server string, m *dns.Msg) (*dns.Msg, error) {
	buf, err := m.Pack()
	if err != nil {
		return nil, err
	}
	conn, err := net.Dial("udp", server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(queryTimeout))
	if _, err := conn.Write(buf); err != nil {
		return nil, err
	}
	reply := make([]byte, dns.MaxMsgSize)
	n, err := conn.Read(reply)
	if err != nil {
		return nil, err
	}
	r := new(dns.Msg)
	if err := r.Unpack(reply[:n]); err != nil {
		return nil, err
	}
	return r, nil
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func grep(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
