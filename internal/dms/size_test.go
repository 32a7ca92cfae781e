package dms

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoServiceClient keeps dms_enterprise.Client out of the binary: once any
// code names it or one of its constructors, the linker keeps all of its
// ~1800 exported methods (see the comment in DownloadURL) and the function
// grows by about 11 MB. Only the request/response types and endpoint data of
// that package may be used.
func TestNoServiceClient(t *testing.T) {
	const pkg = "github.com/aliyun/alibaba-cloud-sdk-go/services/dms-enterprise"
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		local := ""
		for _, imp := range f.Imports {
			if path, _ := strconv.Unquote(imp.Path.Value); path == pkg {
				local = "dms_enterprise"
				if imp.Name != nil {
					local = imp.Name.Name
				}
			}
		}
		if local == "" {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == local &&
				(sel.Sel.Name == "Client" || strings.HasPrefix(sel.Sel.Name, "NewClient") || sel.Sel.Name == "SetEndpointDataToClient" || sel.Sel.Name == "SetClientProperty") {
				t.Errorf("%s: uses %s.%s; call through sdk.Client.DoAction instead", fset.Position(sel.Pos()), local, sel.Sel.Name)
			}
			return true
		})
	}
}
