package sources_test

import (
	"fmt"
	"time"

	"github.com/firebreak/firebreak/web/sources"
)

func ExampleNewGeneric() {
	g, err := sources.NewGeneric("scanner", sources.GenericConfig{
		Items:    "body.findings",
		ID:       "item.id",
		Name:     "item.title",
		Severity: "item.level",
		Status:   `item.state == "fixed" ? "resolved" : "firing"`,
		Host:     "item.asset?.host",
		SrcIP:    "item.source",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	body := []byte(`{"findings":[{"id":"f-1","title":"Open SSH to the world","level":"HIGH","state":"open","asset":{"host":"bastion-01"},"source":"203.0.113.77"}]}`)
	evs, err := g.Decode(body, time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range evs {
		fmt.Println(e.ID, e.Status, e.Severity, e.Name, e.Host, e.SrcIP)
	}
	// Output: scanner:f-1 firing high Open SSH to the world bastion-01 203.0.113.77
}

func ExampleBuiltin() {
	d := sources.Builtin()["wazuh"]
	evs, err := d.Decode([]byte(`{"id":"1741943564.4815162","timestamp":"2025-03-14T09:12:44.671+0000",
		"rule":{"level":10,"id":"5763","description":"sshd: brute force"},
		"agent":{"id":"004","name":"bastion-01"},"data":{"srcip":"203.0.113.77","dstuser":"admin"}}`), time.Now())
	if err != nil {
		fmt.Println(err)
		return
	}
	e := evs[0]
	fmt.Println(e.ID, e.Severity, e.Host, e.SrcIP, e.User, e.StartsAt.UTC().Format(time.RFC3339Nano))
	// Output: wazuh:1741943564.4815162 high bastion-01 203.0.113.77 admin 2025-03-14T09:12:44.671Z
}
