package httpapi

import (
	"strconv"
	"strings"
)

// pageLang is a language the pages are written in.
type pageLang int

const (
	langEnglish pageLang = iota
	langChinese
)

// tag is the language's BCP 47 tag, for <html lang> and Content-Language.
func (l pageLang) tag() string {
	if l == langChinese {
		return "zh-CN"
	}
	return "en"
}

// seconds words a wait for a sentence; {seconds} in a text is replaced by it.
func (l pageLang) seconds(n int) string {
	switch {
	case l == langChinese:
		return strconv.Itoa(n) + " 秒"
	case n == 1:
		return "1 second"
	}
	return strconv.Itoa(n) + " seconds"
}

// pageKind is one page a person can see; several problem codes share one.
type pageKind int

const (
	pageInternal pageKind = iota
	pageNotReady
	pageExpired
	pageInvalid
	pageIncomplete
	pageNotFound
	pageDMSFailed
	pageMisconfigured
	pageBusy
	pageLinksOff
	pageTimeout
	pageWithdrawn
)

// pageKindOf maps a problem code of downloadExport to its page; codes not
// listed (none today) get the generic page.
func pageKindOf(code string) pageKind {
	switch code {
	case "export_not_ready":
		return pageNotReady
	case "link_expired":
		return pageExpired
	case "link_invalid":
		return pageInvalid
	case "bad_request":
		return pageIncomplete
	case "export_not_found":
		return pageNotFound
	case "dms_error":
		return pageDMSFailed
	case "dms_forbidden", "dms_auth_failed", "dms_no_credentials", "dms_bad_request",
		"dms_bad_response", "dms_unreachable", "download_host_refused":
		return pageMisconfigured
	case "dms_throttled", "dms_unavailable":
		return pageBusy
	case "link_keys_missing":
		return pageLinksOff
	case "dms_timeout":
		return pageTimeout
	case "link_withdrawn":
		return pageWithdrawn
	}
	return pageInternal
}

// pageText is what a page says in one language. Steps may hold {seconds}.
type pageText struct {
	Title string
	Lead  string
	Steps []string
	Retry string // text of the "try again" link; "" = no link
}

// pageLabels are the words around the facts every page lists.
type pageLabels struct {
	DMSSays, Details, RequestID, DMSRequestID, Ticket, Status, Detail string
}

var labels = map[pageLang]pageLabels{
	langEnglish: {DMSSays: "DMS says", Details: "Details for an administrator", RequestID: "Request id",
		DMSRequestID: "DMS request id", Ticket: "Ticket", Status: "Status", Detail: "Detail"},
	langChinese: {DMSSays: "DMS 提示", Details: "供管理员排查的信息", RequestID: "请求 ID",
		DMSRequestID: "DMS 请求 ID", Ticket: "工单", Status: "状态", Detail: "说明"},
}

var pageTexts = map[pageLang]map[pageKind]pageText{
	langEnglish: {
		pageNotReady: {
			Title: "The export is not ready yet",
			Lead:  "DMS is still preparing this file, or the ticket is waiting for approval or to be run.",
			Steps: []string{
				"Keep this page open: it checks again every {seconds}, and the download starts by itself once the file is ready.",
				"You can also close it and click the same link later.",
			},
			Retry: "Check now",
		},
		pageExpired: {
			Title: "This link has expired",
			Lead:  "Download links work for a limited time, so that an old message cannot fetch the data forever. This link's time is over; the export itself may still be there.",
			Steps: []string{
				"Ask for a new link where you found this one: the person or bot that sent it can send a fresh one.",
				"If you can use DMS, you can also download the file from the ticket in the DMS console.",
			},
		},
		pageInvalid: {
			Title: "This link is not valid",
			Lead:  "The link was changed or cut short, for example while it was copied, or it was signed with a key this service no longer trusts.",
			Steps: []string{
				"Open the link again from the original message, and make sure you copy all of it.",
				"If it still fails, ask the person or bot that sent it for a new link.",
			},
		},
		pageIncomplete: {
			Title: "This link is incomplete",
			Lead:  "Part of the address is missing or malformed, usually because the link was cut short when it was copied.",
			Steps: []string{
				"Open the link again from the original message, and make sure you copy all of it.",
				"If it still fails, ask the person or bot that sent it for a new link.",
			},
		},
		pageNotFound: {
			Title: "DMS does not know this export",
			Lead:  "The link is genuine, but DMS has no export ticket with this number for this tenant. The ticket may have been deleted, or the link was made for another DMS tenant.",
			Steps: []string{"Check the ticket in the DMS console, or ask the person who sent the link."},
		},
		pageDMSFailed: {
			Title: "DMS could not provide the export",
			Lead:  "DMS answered with an error for this ticket; usually the export itself failed.",
			Steps: []string{
				"Open the ticket in the DMS console to see what happened, and run the export again there if it failed.",
				"If you need help, send the request id below to the administrator of this service.",
			},
		},
		pageMisconfigured: {
			Title: "The download service cannot get the file",
			Lead:  "This is a problem with how the download service is set up, not with your link, and trying again will not fix it.",
			Steps: []string{"Send the request id below to the administrator of this service."},
		},
		pageBusy: {
			Title: "DMS is busy",
			Lead:  "DMS is not taking requests right now. This usually passes within a minute.",
			Steps: []string{"Try again in {seconds}.", "If it keeps happening, send the request id below to the administrator of this service."},
			Retry: "Try again",
		},
		pageLinksOff: {
			Title: "Download links are switched off",
			Lead:  "This service has no key to check download links with, so it refuses every link.",
			Steps: []string{"Send the request id below to the administrator of this service."},
		},
		pageTimeout: {
			Title: "DMS did not answer in time",
			Lead:  "The service asked DMS for the file, but DMS took too long to answer.",
			Steps: []string{"Try again in a moment.", "If it keeps happening, send the request id below to the administrator of this service."},
			Retry: "Try again",
		},
		pageWithdrawn: {
			Title: "This link has been withdrawn",
			Lead:  "Someone responsible for this export withdrew its download links, for example because a link was posted where it should not have been.",
			Steps: []string{"If you still need the file, ask the person who exported it, or download it from the ticket in the DMS console if you can use DMS."},
		},
		pageInternal: {
			Title: "Something went wrong",
			Lead:  "The download service failed unexpectedly while handling this link.",
			Steps: []string{"Try again in a moment.", "If it keeps happening, send the request id below to the administrator of this service."},
			Retry: "Try again",
		},
	},
	langChinese: {
		pageNotReady: {
			Title: "导出文件尚未就绪",
			Lead:  "DMS 仍在生成该文件，或工单正在等待审批或执行。",
			Steps: []string{
				"请保持此页面打开：页面每 {seconds}自动检查一次，文件就绪后会自动开始下载。",
				"也可以先关闭页面，稍后再点击同一链接。",
			},
			Retry: "立即检查",
		},
		pageExpired: {
			Title: "链接已过期",
			Lead:  "下载链接只在有限时间内有效，以免旧消息一直能取到数据。此链接已超过有效期，但导出文件本身可能仍然存在。",
			Steps: []string{
				"请向发送此链接的人或机器人索取新链接。",
				"如果您能使用 DMS，也可以在 DMS 控制台的工单中直接下载文件。",
			},
		},
		pageInvalid: {
			Title: "链接无效",
			Lead:  "链接被修改或被截断（例如复制时丢失了一部分），或其签名密钥已不再受本服务信任。",
			Steps: []string{
				"请从原始消息中重新打开链接，并确认复制完整。",
				"如果仍然失败，请向发送链接的人或机器人索取新链接。",
			},
		},
		pageIncomplete: {
			Title: "链接不完整",
			Lead:  "地址缺少部分内容或格式不正确，通常是复制时链接被截断所致。",
			Steps: []string{
				"请从原始消息中重新打开链接，并确认复制完整。",
				"如果仍然失败，请向发送链接的人或机器人索取新链接。",
			},
		},
		pageNotFound: {
			Title: "DMS 中没有该导出工单",
			Lead:  "链接本身有效，但 DMS 在该租户下找不到此编号的导出工单。工单可能已被删除，或链接是为其他 DMS 租户生成的。",
			Steps: []string{"请在 DMS 控制台中核对该工单，或询问发送链接的人。"},
		},
		pageDMSFailed: {
			Title: "DMS 无法提供该导出文件",
			Lead:  "DMS 对该工单返回了错误，通常是导出任务本身失败了。",
			Steps: []string{
				"请在 DMS 控制台中打开该工单查看原因；如果导出失败，可在那里重新执行。",
				"如需帮助，请把下方的请求 ID 发给本服务的管理员。",
			},
		},
		pageMisconfigured: {
			Title: "下载服务无法获取文件",
			Lead:  "这是下载服务自身的配置问题，与您的链接无关，重试也无法解决。",
			Steps: []string{"请把下方的请求 ID 发给本服务的管理员。"},
		},
		pageBusy: {
			Title: "DMS 繁忙",
			Lead:  "DMS 暂时无法处理请求，通常一分钟内即可恢复。",
			Steps: []string{"请在 {seconds}后重试。", "如果问题持续出现，请把下方的请求 ID 发给本服务的管理员。"},
			Retry: "重试",
		},
		pageLinksOff: {
			Title: "下载链接功能未启用",
			Lead:  "本服务没有配置用于校验下载链接的密钥，因此会拒绝所有链接。",
			Steps: []string{"请把下方的请求 ID 发给本服务的管理员。"},
		},
		pageTimeout: {
			Title: "DMS 响应超时",
			Lead:  "本服务已向 DMS 请求文件，但 DMS 未能及时响应。",
			Steps: []string{"请稍后重试。", "如果问题持续出现，请把下方的请求 ID 发给本服务的管理员。"},
			Retry: "重试",
		},
		pageWithdrawn: {
			Title: "链接已被撤回",
			Lead:  "该导出的负责人撤回了它的下载链接，例如因为链接被发到了不该发的地方。",
			Steps: []string{"如果仍需要该文件，请联系导出它的人；如果您能使用 DMS，也可以在 DMS 控制台的工单中下载。"},
		},
		pageInternal: {
			Title: "出错了",
			Lead:  "下载服务在处理此链接时发生了意外错误。",
			Steps: []string{"请稍后重试。", "如果问题持续出现，请把下方的请求 ID 发给本服务的管理员。"},
			Retry: "重试",
		},
	},
}

// textFor returns the page's words in l with the wait filled in.
func textFor(l pageLang, k pageKind, wait int) pageText {
	t := pageTexts[l][k]
	steps := make([]string, 0, len(t.Steps))
	for _, s := range t.Steps {
		steps = append(steps, strings.ReplaceAll(s, "{seconds}", l.seconds(wait)))
	}
	t.Steps = steps
	return t
}
