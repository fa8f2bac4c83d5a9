package tracking

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPublicAPIStandsAlone: users' modules import package tracking but
// cannot import internal/... packages, so no exported declaration may
// mention a type of one (a status constant they could not name, a field
// of a type they could not declare).
func TestPublicAPIStandsAlone(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	var found []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		require.NoError(t, err)
		got, err := internalMentions(name, src)
		require.NoError(t, err)
		found = append(found, got...)
	}
	require.Empty(t, found, "exported declarations of package tracking name internal types; give them tracking-owned types")
}

// TestInternalMentionsFindsThem: the check above sees each kind of
// exported declaration, and only exported parts.
func TestInternalMentionsFindsThem(t *testing.T) {
	src := `package tracking

import (
	"context"
	m "example.com/x/internal/mlflow"
	"example.com/x/internal/mlflow/restclient"
)

type Tracker struct{ store m.Store }
type hidden struct{ Exported m.Run }

type Info struct {
	ID      string
	Version *restclient.ModelVersion
	private m.RunInfo
}
type Store interface{ Get() []m.Run }
type Status = m.RunStatus
type Opt func(*m.Options)

func (t *Tracker) End(ctx context.Context, s m.RunStatus) error { return nil }
func (t *Tracker) end(s m.RunStatus)                             {}
func (h hidden) Exported(s m.RunStatus)                          {}
func Open() (map[string]m.Run, error)                            { return nil, nil }
func open() m.Run                                                { return m.Run{} }

var Default = m.DefaultStore
var Policy = restclient.DefaultRetryPolicy()
var Empty = m.Run{}
var Typed m.RunStatus
var private m.Run

const Finished = m.RunStatusFinished
`
	got, err := internalMentions("x.go", []byte(src))
	require.NoError(t, err)
	var names []string
	for _, g := range got {
		names = append(names, strings.Fields(g)[1])
	}
	slices.Sort(names)
	require.Equal(t, []string{
		"Default", "Empty", "Finished", "Info.Version", "Open", "Opt", "Policy",
		"Status", "Store", "Tracker.End", "Typed",
	}, names, "%s", strings.Join(got, "\n"))
}

// internalMentions lists the exported declarations of one source file
// whose types mention an internal package, as "file:line Name pkg.Type".
// A var or const without a type counts when its value is a name, call or
// literal of an internal package.
func internalMentions(filename string, src []byte) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filename, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	internal := map[string]bool{} // local names of internal imports
	for _, imp := range f.Imports {
		p, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			return nil, err
		}
		if !strings.Contains("/"+p+"/", "/internal/") {
			continue
		}
		name := p[strings.LastIndex(p, "/")+1:]
		if imp.Name != nil {
			name = imp.Name.Name
		}
		internal[name] = true
	}
	if len(internal) == 0 {
		return nil, nil
	}
	var out []string
	var report func(decl string, n ast.Node)
	report = func(decl string, n ast.Node) {
		ast.Inspect(n, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok && internal[id.Name] {
					out = append(out, fset.Position(sel.Pos()).String()+" "+decl+" "+id.Name+"."+sel.Sel.Name)
					return false
				}
			}
			// A function literal's body is not part of any signature.
			if lit, ok := n.(*ast.FuncLit); ok {
				report(decl, lit.Type)
				return false
			}
			return true
		})
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if !d.Name.IsExported() {
				continue
			}
			name := d.Name.Name
			if d.Recv != nil {
				recv := receiverName(d.Recv.List[0].Type)
				if !ast.IsExported(recv) {
					continue
				}
				name = recv + "." + name
			}
			report(name, d.Type)
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					if !s.Name.IsExported() {
						continue
					}
					if s.TypeParams != nil {
						report(s.Name.Name, s.TypeParams)
					}
					st, ok := s.Type.(*ast.StructType)
					if !ok {
						report(s.Name.Name, s.Type)
						continue
					}
					for _, fld := range st.Fields.List {
						if len(fld.Names) == 0 { // embedded: promoted
							report(s.Name.Name+"."+receiverName(fld.Type), fld.Type)
							continue
						}
						for _, n := range fld.Names {
							if n.IsExported() {
								report(s.Name.Name+"."+n.Name, fld.Type)
							}
						}
					}
				case *ast.ValueSpec:
					for i, n := range s.Names {
						if !n.IsExported() {
							continue
						}
						if s.Type != nil {
							report(n.Name, s.Type)
						} else if i < len(s.Values) && internalValue(s.Values[i], internal) {
							report(n.Name, s.Values[i])
						}
					}
				}
			}
		}
	}
	return out, nil
}

// internalValue reports whether a value's type comes from an internal
// package: a name, call or composite literal of one.
func internalValue(e ast.Expr, internal map[string]bool) bool {
	for {
		switch x := e.(type) {
		case *ast.ParenExpr:
			e = x.X
		case *ast.UnaryExpr:
			e = x.X
		case *ast.CallExpr:
			e = x.Fun
		case *ast.CompositeLit:
			e = x.Type
		case *ast.IndexExpr:
			e = x.X
		case *ast.SelectorExpr:
			id, ok := x.X.(*ast.Ident)
			return ok && internal[id.Name]
		default:
			return false
		}
	}
}

// receiverName is the type name of a receiver or embedded field.
func receiverName(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.SelectorExpr:
			return x.Sel.Name
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}
