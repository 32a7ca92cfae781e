package httpapi

// operationDownload is the operation every signed link leads to.
const operationDownload = "downloadExport"

// routes maps every operationId in openapi.yaml to its handler; New fails if
// the spec has an operation without one, and a test checks the reverse.
func (a *API) routes() map[string]func(*call) (*problem, error) {
	return map[string]func(*call) (*problem, error){
		operationDownload:    a.handleDownload,
		"downloadExportHead": a.handleDownloadHead,
		"getExport":          a.handleGetExport,
		"createLink":         a.handleCreateLink,
		"revokeLinks":        a.handleRevokeLinks,
		"getOpenAPI":         a.handleOpenAPI,
		"getHealth":          a.handleHealth,
		"receiveDmsWebhook":  a.handleDMSWebhook,
		"dingtalkCommand":    a.handleDingTalkCommand,
		"slackCommand":       a.handleSlackCommand,
	}
}
