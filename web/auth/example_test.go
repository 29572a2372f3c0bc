package auth_test

import (
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/firebreak/firebreak/web/auth"
)

// A Splunk receiver authenticates with a token in the URL. Under gin, the
// router copies its path parameter into the request first:
//
//	r.POST("/hooks/splunk/:token", func(c *gin.Context) {
//		c.Request.SetPathValue("token", c.Param("token"))
//		err := a.Authenticate(c.Request, body, time.Now())
//		…
//	})
func ExampleNew_urlToken() {
	a, err := auth.New(auth.Config{Type: auth.TypeURLToken, Token: "0f3c9a7e", AllowCIDRs: []string{"10.0.0.0/8"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	r := httptest.NewRequest("POST", "/hooks/splunk/0f3c9a7e", nil)
	r.RemoteAddr = "10.1.2.3:50000"
	r.SetPathValue("token", "0f3c9a7e")
	fmt.Println(a.Authenticate(r, nil, time.Now()))

	r.SetPathValue("token", "guess")
	err = a.Authenticate(r, nil, time.Now())
	fmt.Println(auth.HTTPStatus(err), auth.Reason(err), err)

	r.RemoteAddr = "198.51.100.1:50000"
	err = a.Authenticate(r, nil, time.Now())
	fmt.Println(auth.HTTPStatus(err), auth.Reason(err), err)
	// Output:
	// <nil>
	// 401 bad_credentials bad credentials: wrong URL token
	// 403 forbidden_address remote address not allowed: 198.51.100.1
}

func ExampleNew_refused() {
	_, err := auth.New(auth.Config{Type: auth.TypeNone})
	fmt.Println(err)
	// Output: invalid auth config: type none requires insecure: true
}
