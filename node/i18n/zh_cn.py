"""Simplified Chinese (zh-CN) texts of every stable error code — the default language.
See node/i18n/__init__.py for the syntax."""

from __future__ import annotations

from typing import Final

LIST_SEPARATOR: Final = "、"

TERMS: Final[dict[str, str]] = {
    # GB 32100-2015 登记管理部门 (position 1 of a credit code)
    "authority.1": "机构编制",
    "authority.2": "外交",
    "authority.3": "司法行政",
    "authority.4": "文化",
    "authority.5": "民政",
    "authority.6": "旅游",
    "authority.7": "宗教",
    "authority.8": "工会",
    "authority.9": "工商（市场监管）",
    "authority.A": "中央军委改革和编制办公室",
    "authority.N": "农业农村",
    "authority.Y": "其他",
    # the timed stages of node/domain/deadlines.py
    "stage.dispatch_working_days": "交办时限",
    "stage.resolve_working_days": "办理时限",
    "stage.review_working_days": "审核时限",
}

_DIVISION: Final = "统一社会信用代码第 3–8 位（登记管理机关行政区划码）无效："

MESSAGES: Final[dict[str, str]] = {
    # families
    "domain_error": "请求被拒绝",
    "invalid_input": "输入不合法：{field}",
    "illegal_transition": "当前状态“{state}”下不允许执行操作“{action}”",
    "rule_violation": "不符合办理规则，操作未执行",
    "not_found": "未找到",
    "forbidden": "无权执行该操作",
    "unauthenticated": "需要登录",
    "conflict": "请求与当前状态冲突，请刷新后重试",
    # input
    "division_length": "行政区划代码应为 6 位数字，实际为 {length} 位",
    "division_digits": "行政区划代码只能包含数字",
    "division_province": "行政区划代码前两位“{prefix}”不是有效的省级代码",
    "division_structure": "行政区划代码结构无效：地市位为 00 时区县位也必须为 00",
    "credit_code_length": "统一社会信用代码应为 18 位，实际为 {length} 位",
    "credit_code_check_length": "计算校验码需要统一社会信用代码的前 17 位，实际为 {length} 位",
    "credit_code_character": "统一社会信用代码第 {position} 位“{character}”不是合法字符"
                             "（只能使用数字和除 I、O、Z、S、V 以外的大写字母）",
    "credit_code_authority": "统一社会信用代码第 1 位（登记管理部门代码）“{character}”无效",
    "credit_code_entity_type": "统一社会信用代码第 2 位（机构类别代码）“{character}”对登记管理"
                               "部门“{authority:term}”无效，应为 {allowed:list} 之一",
    "credit_code_division_length": _DIVISION + "行政区划代码应为 6 位数字，实际为 {length} 位",
    "credit_code_division_digits": _DIVISION + "行政区划代码只能包含数字",
    "credit_code_division_province": _DIVISION + "行政区划代码前两位“{prefix}”不是有效的省级"
                                                 "代码",
    "credit_code_division_structure": _DIVISION + "行政区划代码结构无效：地市位为 00 时区县位"
                                                  "也必须为 00",
    "credit_code_check_character": "统一社会信用代码校验位错误：按前 17 位应为“{expected}”，"
                                   "实际为“{actual}”，请核对是否有输错的字符",
    "text_required": "“{field}”不能为空",
    "text_control_character": "“{field}”第 {position} 个字符是不允许的控制字符（{codepoint}）",
    "text_too_long": "“{field}”最多 {max_len} 个字，当前 {length} 个字",
    "text_too_short": "“{field}”至少 {min_len} 个字，当前 {length} 个字",
    "not_text": "“{field}”必须是文本",
    "phone_invalid": "电话号码格式无效：应为 11 位手机号，或“区号-号码”形式的固定电话"
                     "（如 0571-88888888）",
    "tags_not_a_list": "标签必须是列表",
    "tags_not_text": "标签必须是文本列表",
    "tags_not_canonical": "标签重复或格式不规范",
    "tags_too_many": "标签最多 {max_count} 个，当前 {count} 个",
    "issue_id_invalid": "诉求编号格式无效或与来源单位不符",
    "issue_number_invalid": "诉求受理号格式无效或与来源单位不符",
    "issue_origin_not_below": "{sender} 无权引入来源为 {origin} 的诉求",
    "issue_origin_from_above": "本辖区产生的诉求不能由上级新交下来",
    "outcome_invalid": "办结结果无效",
    "counter_out_of_range": "“{field}”超出范围",
    "year_out_of_range": "年份 {year} 无效",
    "calendar_foreign_date": "{year} 年的日历中包含其他年份的日期：{date}",
    "calendar_date_both": "{date} 不能既是节假日又是调休工作日",
    "calendar_year_mismatch": "配置的年份 {key} 与其日历中的年份 {year} 不一致",
    "working_days_not_integer": "{stage:term}必须是整数个工作日",
    "working_days_out_of_range": "{stage:term}必须在 {min} 到 {max} 个工作日之间",
    "deadline_tag_empty": "时限配置中的标签不能为空",
    "deadline_tag_invalid": "标签“{tag}”的时限配置格式无效",
    "sample_malformed": "抽样记录格式无效",
    "share_not_a_number": "抽样比例必须为数值",
    "share_out_of_range": "抽样比例必须大于 0 且不超过 1",
    "seed_empty": "抽样种子不能为空",
    "seed_part_empty": "生成抽样种子时 {field} 不能为空",
    "frame_id_invalid": "抽样框中的问题编号必须为非空字符串",
    "fact_invalid": "问题 {issue_id} 的字段 {name} 取值无效：{value}",
    "now_naive": "当前时间必须带时区",
    "min_sample_invalid": "最小样本量必须为不小于 1 的整数",
    "summary_malformed": "下级汇总数据格式错误",
    "credit_code_not_yours": "企业只能以本企业的统一社会信用代码提交诉求",
    "channel_not_online": "企业只能通过线上平台提交",
    "period_invalid": "抽样周期格式应为 YYYY-MM",
    "cursor_invalid": "翻页游标无效，请从第一页重新开始",
    "enterprise_needs_credit_code": "企业账号需要统一社会信用代码",
    "directive_kind_invalid": "督办类型无效",
    "transfer_misaddressed": "移交目标不是本节点",
    "number_or_origin_differs": "诉求的受理号或来源与本节点记录不一致",
    "replica_not_from_origin": "新诉求必须由其来源单位发布",
    "replica_number_taken": "该受理号已被其他诉求占用",
    "replica_identity_changed": "事件不能改变诉求的编号或来源",
    "federation_message_invalid": "节点间消息不合法：{field}：{problem}",
    "request_invalid": "请求内容不合法：{field}",
    # rules
    "urge_too_soon": "24小时内只能催办一次，下次可催办时间：{next_allowed_at}",
    "ladder_exhausted": "已到本级最高处理层级（联席会议），只能上报上一级",
    "transfer_pending": "该诉求正在移交上级/下级，暂不能办理",
    "no_parent": "本节点没有上级，无法上报",
    "not_escalated_here": "该诉求并非由下级上报，无法退回",
    "not_a_child": "{child} 不是本节点的下级",
    "owned_here": "本节点办理的诉求请直接催办",
    # not found
    "issue_not_found": "未找到诉求 {issue}",
    "sample_not_found": "未找到抽样 {sample_id}",
    # forbidden
    "role_not_permitted": "当前角色（{role}）无权执行“{permission}”",
    "replica_read_only": "该诉求由 {owner} 办理，本节点仅持有只读副本",
    "not_your_department": "该诉求未交办给您所在部门",
    "not_below_node": "{unit} 不在本节点辖区内",
    "not_owner": "本节点不是该诉求的办理方",
    "caller_not_child": "{caller} 不是本节点的下级",
    "caller_not_parent": "{caller} 不是本节点的上级",
    "origin_mismatch": "调用方与消息声明的来源不一致",
    "certificate_mismatch": "证书表明调用方是 {caller}，消息却声称来自 {claimed}",
    "caller_not_owner": "{caller} 不是该诉求的办理方，无权移交",
    "owner_differs": "本节点记录的办理方是 {owner}，不是 {caller}",
    "directive_not_allowed": "{caller} 无权向本节点发送该指令",
    "caller_off_path": "{caller} 不在该诉求的上报路径上",
    "enterprise_mismatch": "企业与诉求不符",
    "read_not_allowed": "{caller} 无权读取该诉求",
    "watermark_not_allowed": "只有持有证书的直属下级节点才能查询",
    # unauthenticated
    "login_required": "请先登录",
    "wrong_password": "用户名或密码错误",
    "account_unknown": "账号不存在或已停用",
    "session_expired": "登录已过期，请重新登录",
    "session_invalid": "登录凭证无效",
    "no_client_certificate": "缺少客户端证书",
    "fetch_needs_certificate": "读取诉求需要客户端证书（当前为不安全模式）",
    # conflicts
    "version_mismatch": "版本不一致：当前为 {current_version}，请求基于 {expected_version}",
    "concurrent_update": "该诉求已被他人修改，请刷新后重试",
    "account_exists": "账号 {username} 已存在",
    "transfer_outdated": "移交的诉求版本落后于本节点记录",
    "number_taken": "该受理号已被其他诉求占用",
    # the adapters' own
    "body_too_large": "请求内容过大：最多 {max_bytes} 字节",
    "method_not_allowed": "不支持该请求方法",
    "http_error": "请求错误",
    "streams_not_running": "本节点未运行事件流",
    "internal": "服务器内部错误，请稍后重试；如一再出现，请把请求编号告知管理员",
}
