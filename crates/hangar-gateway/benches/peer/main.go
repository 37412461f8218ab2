// The benchmark's backends: a plain HTTP JSON echo (what an MCPTool calls) and
// an MCP server built on the official Go SDK with one `echo` tool (what a
// gateway federates). Both are the floor the gateways are measured against.
package main

import (
	"context"
	"flag"
	"io"
	"log"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type echoArgs struct {
	Text string `json:"text"`
}

func main() {
	echoAddr := flag.String("echo", "127.0.0.1:0", "address of the plain HTTP echo backend")
	mcpAddr := flag.String("mcp", "127.0.0.1:0", "address of the MCP server (path /mcp)")
	flag.Parse()

	echo := http.NewServeMux()
	echo.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"received":`))
		w.Write(body)
		w.Write([]byte(`}`))
	})

	server := mcp.NewServer(&mcp.Implementation{Name: "bench-upstream", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "echo", Description: "Echoes its text"},
		func(ctx context.Context, req *mcp.CallToolRequest, args echoArgs) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: args.Text}}}, nil, nil
		})
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server },
		&mcp.StreamableHTTPOptions{JSONResponse: true})
	routes := http.NewServeMux()
	routes.Handle("/mcp", handler)

	go func() { log.Fatal(http.ListenAndServe(*echoAddr, echo)) }()
	log.Fatal(http.ListenAndServe(*mcpAddr, routes))
}
