package loadbase

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"
)

// Handler returns the baseline receiver. It reads the body, decodes it into
// a generic JSON value (400 with a JSON error when it is not JSON), counts
// the events in it (the length of its `alerts` array, else one), runs then
// with the body when then is not nil (503 with a JSON error when then
// fails), and answers 202 {"accepted": n, "duplicates": 0}, as Firebreak's
// receivers do.
func Handler(then func([]byte) error) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.POST("/hooks/:source", func(c *gin.Context) {
		body, err := io.ReadAll(c.Request.Body)
		if err != nil {
			c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "read body: " + err.Error()})
			return
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "decode body: " + err.Error()})
			return
		}
		n := 1
		if alerts, ok := m["alerts"].([]any); ok {
			n = len(alerts)
		}
		if then != nil {
			if err := then(body); err != nil {
				c.AbortWithStatusJSON(http.StatusServiceUnavailable, gin.H{"error": err.Error()})
				return
			}
		}
		c.JSON(http.StatusAccepted, gin.H{"accepted": n, "duplicates": 0})
	})
	return r
}
