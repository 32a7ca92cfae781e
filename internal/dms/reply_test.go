package dms

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/responses"
	dms_enterprise "github.com/aliyun/alibaba-cloud-sdk-go/services/dms-enterprise"
)

// sdkDecode is what the SDK itself makes of body: its json-iterator decoder
// and fuzzy rules, into the dms_enterprise response type.
func sdkDecode(body string) (reply, error) {
	resp := dms_enterprise.CreateGetDataExportDownloadURLResponse()
	hr := &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body))}
	if err := responses.Unmarshal(resp, hr, "JSON"); err != nil {
		return reply{}, err
	}
	return reply{
		RequestID:    resp.RequestId,
		Success:      resp.Success,
		ErrorCode:    resp.ErrorCode,
		ErrorMessage: resp.ErrorMessage,
		HasResult:    resp.DownloadURLResult.HasResult,
		URL:          resp.DownloadURLResult.URL,
		TipMessage:   resp.DownloadURLResult.TipMessage,
	}, nil
}

// TestReplyDecodesAsTheSDK holds decodeReply to the SDK's decoder, body by
// body: both refuse the same bodies and read the same values from the rest.
func TestReplyDecodesAsTheSDK(t *testing.T) {
	bodies := []string{
		// What DMS documents.
		`{"RequestId":"R1","Success":true,"DownloadURLResult":{"HasResult":true,"URL":"https://b.oss-cn-hangzhou.aliyuncs.com/x.zip?Signature=s","TipMessage":""}}`,
		`{"RequestId":"R2","Success":true,"ErrorCode":"UnknownError","ErrorMessage":"UnknownError","DownloadURLResult":{"HasResult":false,"TipMessage":"The export is still running."}}`,
		`{"RequestId":"R3","Success":false,"ErrorCode":"InvalidOrderId","ErrorMessage":"order 7 does not exist"}`,
		// The SDK's lenience.
		`{"RequestId":"R4","Success":"true","DownloadURLResult":{"HasResult":"TRUE","URL":"u"}}`,
		`{"RequestId":12345,"Success":1,"DownloadURLResult":{"HasResult":0,"TipMessage":false}}`,
		`{"RequestId":null,"Success":"","ErrorCode":7,"DownloadURLResult":null}`,
		`{"Success":"false","ErrorMessage":true}`,
		`{"Success":-2,"DownloadURLResult":{"HasResult":3,"URL":1.5}}`,
		// Names are case-sensitive; unknown members are skipped; the last
		// of two equal names wins.
		`{"requestid":"x","success":true,"SUCCESS":true}`,
		`{"RequestId":"R5","Success":true,"Extra":{"a":[1,2,{"b":null}]},"DownloadURLResult":{"HasResult":true,"URL":"u","More":1}}`,
		`{"Success":false,"Success":true,"RequestId":"a","RequestId":"b"}`,
		`  {"Success" : true }  `,
		`{}`,
		`null`,
		// Refused.
		`{"Success":"yes"}`,
		`{"Success":1.5}`,
		`{"Success":[true]}`,
		`{"Success":{}}`,
		`{"RequestId":["R"]}`,
		`{"RequestId":{"a":1}}`,
		`{"DownloadURLResult":"none"}`,
		`{"DownloadURLResult":[]}`,
		`[]`,
		`"text"`,
		`<html>Bad gateway</html>`,
		`{"RequestId":"R6",`,
		`{"RequestId":"R7"} trailing`,
	}
	for _, body := range bodies {
		want, wantErr := sdkDecode(body)
		got, gotErr := decodeReply([]byte(body))
		if (gotErr != nil) != (wantErr != nil) {
			t.Errorf("%s: decodeReply error %v, the SDK's %v", body, gotErr, wantErr)
			continue
		}
		if got != want {
			t.Errorf("%s:\n decodeReply %+v\n the SDK    %+v", body, got, want)
		}
	}
}
