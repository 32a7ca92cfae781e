package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

// authState carries what the AuthenticationFunc learnt out of kin-openapi's
// validation. The signed link is checked after the parameters are validated,
// so a malformed id is a 400 naming it, not a bare 403.
type authState struct {
	linkPending bool
	refused     *problem // why the credentials (bearer, webhook token, platform signature) were refused
	replay      *replayMark
	caller      string // fingerprint of the bearer token that verified
}

// validationProblem turns kin-openapi's errors into one problem that names
// each parameter and the reason, never the schema dump.
func validationProblem(err error) *problem {
	var fields []fieldError
	status := ""
	var visit func(error)
	visit = func(err error) {
		var me openapi3.MultiError
		var re *openapi3filter.RequestError
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &me) && isMulti(err):
			for _, e := range me {
				visit(e)
			}
		case errors.As(err, &mbe):
			status = "body_too_large"
		case errors.As(err, &re):
			fields = append(fields, requestErrorFields(re, &status)...)
		default:
			fields = append(fields, fieldError{In: "body", Reason: "is not valid"})
		}
	}
	visit(err)
	if status == "" {
		status = "bad_request"
	}
	p := newProblem(status, "")
	p.Errors = fields
	var parts []string
	for _, f := range fields {
		if f.Name != "" {
			parts = append(parts, f.In+" "+f.Name+": "+f.Reason)
		} else {
			parts = append(parts, f.In+": "+f.Reason)
		}
	}
	p.Detail = strings.Join(parts, "; ")
	return p
}

func isMulti(err error) bool {
	_, ok := err.(openapi3.MultiError)
	return ok
}

func requestErrorFields(re *openapi3filter.RequestError, status *string) []fieldError {
	if re.Parameter != nil {
		return []fieldError{{In: re.Parameter.In, Name: re.Parameter.Name, Reason: reasonOf(re.Err, re.Reason)}}
	}
	if re.RequestBody == nil {
		return []fieldError{{In: "body", Reason: "is not allowed here"}}
	}
	if strings.HasPrefix(re.Reason, "header Content-Type has unexpected value") || strings.Contains(re.Reason, "unsupported content type") {
		*status = "unsupported_media_type"
		return nil
	}
	var mbe *http.MaxBytesError
	if errors.As(re.Err, &mbe) {
		*status = "body_too_large"
		return nil
	}
	var pe *openapi3filter.ParseError
	if errors.As(re.Err, &pe) {
		*status = "bad_json"
		return []fieldError{{In: "body", Reason: "is not valid JSON"}}
	}
	if errors.Is(re.Err, openapi3filter.ErrInvalidRequired) || re.Err == nil && re.Reason != "" && strings.Contains(re.Reason, "required") {
		return []fieldError{{In: "body", Reason: "is required"}}
	}
	var out []fieldError
	var me openapi3.MultiError
	if errors.As(re.Err, &me) {
		for _, e := range me {
			out = append(out, schemaField(e))
		}
		return out
	}
	return []fieldError{schemaField(re.Err)}
}

func schemaField(err error) fieldError {
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		ptr := se.JSONPointer()
		return fieldError{In: "body", Name: strings.Join(ptr, "/"), Reason: se.Reason}
	}
	return fieldError{In: "body", Reason: "is not valid"}
}

// reasonOf gives a short, value-free reason for a parameter error.
func reasonOf(err error, fallback string) string {
	var se *openapi3.SchemaError
	var pe *openapi3filter.ParseError
	switch {
	case err == nil:
		if fallback == "" {
			return "is not valid"
		}
		return fallback
	case errors.Is(err, openapi3filter.ErrInvalidRequired):
		return "is required"
	case errors.Is(err, openapi3filter.ErrInvalidEmptyValue):
		return "must not be empty"
	case errors.As(err, &se):
		return se.Reason
	case errors.As(err, &pe):
		if r := pe.RootCause(); r != nil && pe.Reason == "" {
			return "is not valid"
		}
		if pe.Reason != "" {
			return "is " + pe.Reason
		}
		return "is not valid"
	}
	return "is not valid"
}
