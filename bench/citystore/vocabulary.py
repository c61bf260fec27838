"""The words of a generated city store: units, departments, boards, topics and their texts.

A topic is one kind of enterprise issue (用电, 用地, 融资, …): its tags, the board (专班)
that triages it, the departments that handle it and the phrases its titles, contents,
replies and notes are built from. Texts are assembled from a template and a few slots
(the enterprise's project, the ask, the problem, the impact), so that a million issues
carry realistic, varied Chinese text of realistic length (titles 10–40 characters,
contents 80–300) and a search for a common word (用电, 审批) matches a realistic share of
the pool. Units come from node/data/zhejiang_divisions.csv: the city 330500 (湖州市) and
its counties.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import TypeVar

T = TypeVar("T")
CITY = "330500"
PROVINCE = "330000"


@dataclass(frozen=True, kw_only=True, slots=True)
class Unit:
    code: str
    name: str  # 湖州市, 吴兴区, …
    short: str  # 湖州, 吴兴, … (used in enterprise names)


def units(city: str = CITY) -> tuple[Unit, ...]:
    """The city itself first, then its counties (node/data/zhejiang_divisions.csv)."""
    text = resources.files("node.data").joinpath("zhejiang_divisions.csv").read_text("utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    found = [r for r in rows if r["code"] == city]
    found += sorted((r for r in rows if r["level"] == "county" and r["parent"] == city),
                    key=lambda r: r["code"])
    if not found or found[0]["code"] != city:
        raise ValueError(f"{city} is not a city of node/data/zhejiang_divisions.csv")
    return tuple(Unit(code=r["code"], name=r["name"], short=r["name"][:-1]) for r in found)


#: Share of the city's issues born at each unit, in the order of `units()`: the city's own
#: intake (市级平台) and its counties by their number of enterprises.
ORIGIN_WEIGHTS = (0.10, 0.22, 0.15, 0.17, 0.21, 0.15)

#: Channels (node.domain.issue.Channel values) with their share of intake.
CHANNEL_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("online", 0.46), ("hotline_12345", 0.24), ("meeting", 0.08), ("volunteer", 0.07),
    ("department", 0.06), ("field_visit", 0.06), ("higher_level", 0.03),
)

#: Departments by key; `{u}` is the unit's name (湖州市, 长兴县, …).
DEPARTMENTS: dict[str, str] = {
    "power": "国网{u}供电公司",
    "land": "{u}自然资源和规划局",
    "finance": "{u}金融工作服务中心",
    "bank": "人民银行{u}支行",
    "tax": "国家税务总局{u}税务局",
    "approval": "{u}行政审批服务中心",
    "reform": "{u}发展和改革局",
    "economy": "{u}经济和信息化局",
    "hr": "{u}人力资源和社会保障局",
    "talent": "{u}人才工作办公室",
    "transport": "{u}交通运输局",
    "market": "{u}市场监督管理局",
    "ecology": "{u}生态环境分局",
    "fire": "{u}消防救援大队",
    "housing": "{u}住房和城乡建设局",
    "commerce": "{u}商务局",
    "science": "{u}科学技术局",
    "water": "{u}水务集团",
    "safety": "{u}应急管理局",
    "education": "{u}教育局",
    "fiscal": "{u}财政局",
    "telecom": "{u}通信发展办公室",
}

BOARDS = ("要素保障专班", "金融服务专班", "政策兑现专班", "人才服务专班", "项目审批专班",
          "企业服务专班", "营商环境专班", "开放型经济专班")


@dataclass(frozen=True, kw_only=True, slots=True)
class Topic:
    tag: str  # the main tag (node.domain.validation: at most 30 characters)
    extra_tags: tuple[str, ...]  # tags that often come with it
    board: str
    departments: tuple[str, ...]  # keys of DEPARTMENTS, the first one most often
    asks: tuple[str, ...]  # what the enterprise asks for (title and content)
    problems: tuple[str, ...]  # the situation (content)
    replies: tuple[str, ...]  # what the department did (reply)
    weight: float


TOPICS: tuple[Topic, ...] = (
    Topic(tag="用电", extra_tags=("要素保障", "电力增容"), board="要素保障专班",
          departments=("power", "economy"), weight=0.10,
          asks=("用电增容", "新增专用变压器报装", "双回路供电接入", "峰谷电价政策咨询",
                "临时用电审批", "配电线路改造"),
          problems=("新上生产线投产后用电负荷将增加约{k}千伏安，现有变压器容量不足",
                    "园区近期频繁计划停电，影响连续生产，每次停电损失约{w}万元",
                    "报装申请已提交{d}个工作日，尚未安排现场勘查",
                    "厂区线路老化，夏季用电高峰时段多次跳闸"),
          replies=("供电公司已安排客户经理上门勘查，增容方案已确定，预计{d}个工作日内完成送电。",
                   "已协调供电公司调整检修计划，停电安排提前三天告知企业并避开生产高峰。",
                   "报装流程已开通绿色通道，现场勘查已完成，正在施工。")),
    Topic(tag="用地", extra_tags=("要素保障", "土地指标"), board="要素保障专班",
          departments=("land", "reform"), weight=0.09,
          asks=("用地指标审批", "工业用地出让", "不动产权证办理", "低效用地再开发",
                "厂房加层改造规划许可", "土地性质变更"),
          problems=("扩建项目需新增用地约{m}亩，已完成立项备案，用地指标迟迟未落实",
                    "厂房竣工验收已过{d}个月，不动产权证仍未办出，影响银行抵押融资",
                    "企业拟对闲置厂房加层改造，规划审批要求不明确",
                    "相邻地块出让进度缓慢，项目二期无法开工"),
          replies=("自然资源和规划局已将项目纳入年度用地计划，指标已下达，土地出让预计下月挂牌。",
                   "不动产登记中心已开辟专窗，权证已于本周办结并送达企业。",
                   "已组织规划、住建部门现场踏勘，加层改造方案符合要求，许可已核发。")),
    Topic(tag="融资", extra_tags=("金融服务", "转贷"), board="金融服务专班",
          departments=("finance", "bank"), weight=0.09,
          asks=("流动资金贷款", "转贷资金支持", "政策性担保", "贷款展期", "知识产权质押融资",
                "首贷服务"),
          problems=("受原材料价格上涨影响，企业流动资金缺口约{w}万元",
                    "一笔{w}万元贷款将于下月到期，续贷审批尚未通过",
                    "银行要求追加抵押物，企业已无可抵押资产",
                    "申请政策性担保已{d}个工作日，担保公司尚未答复"),
          replies=("已对接三家合作银行，其中一家已完成授信审批，贷款{w}万元已发放。",
                   "转贷资金已到位，企业贷款已顺利续贷。",
                   "政策性担保公司已完成评审，担保额度已批复。")),
    Topic(tag="税费", extra_tags=("退税", "减税降费"), board="政策兑现专班",
          departments=("tax", "fiscal"), weight=0.08,
          asks=("增值税留抵退税", "研发费用加计扣除", "出口退税进度", "社保费减免",
                "房产税城镇土地使用税减免", "发票额度调整"),
          problems=("留抵退税申请已提交{d}个工作日，尚未到账",
                    "对研发费用加计扣除的归集口径存在疑问，担心申报有误",
                    "企业因疫情影响经营困难，申请减免房产税和城镇土地使用税",
                    "开票额度不足，影响正常销售结算"),
          replies=("税务局已完成审核，留抵退税款{w}万元已退还至企业账户。",
                   "税务专员已上门辅导，研发费用归集口径已明确，企业已正确申报。",
                   "减免申请符合条件，已办理减免手续。")),
    Topic(tag="审批", extra_tags=("项目审批", "施工许可"), board="项目审批专班",
          departments=("approval", "reform", "housing"), weight=0.09,
          asks=("项目立项审批", "施工许可证办理", "环评审批", "竣工联合验收", "节能审查",
                "项目备案变更"),
          problems=("项目材料已提交{d}个工作日，审批仍处于补正状态，补正要求前后不一",
                    "施工许可需要的图审意见迟迟未出",
                    "联合验收涉及五个部门，各部门时间难以协调",
                    "项目投资额调整后需变更备案，线上系统无法提交"),
          replies=("已召开项目推进协调会，审批事项实行并联办理，施工许可证已核发。",
                   "图审机构已出具审查意见，相关许可已在承诺时限内办结。",
                   "联合验收已完成，验收意见书已出具。")),
    Topic(tag="人才", extra_tags=("人才引进", "人才公寓"), board="人才服务专班",
          departments=("talent", "hr"), weight=0.06,
          asks=("高层次人才引进补贴", "人才公寓申请", "人才落户", "博士后工作站建站",
                "技能人才评价"),
          problems=("企业引进的{k}名硕士以上人才补贴尚未发放",
                    "新引进技术骨干住房困难，希望申请人才公寓",
                    "外地人才落户手续办理流程不清楚",
                    "企业拟设立博士后工作站，不了解申报条件"),
          replies=("人才办已完成资格审核，补贴资金已拨付至个人账户。",
                   "已为企业配租人才公寓{k}套，员工已入住。",
                   "已安排专人指导企业准备申报材料，工作站已获批设立。")),
    Topic(tag="用工", extra_tags=("招工", "社保"), board="人才服务专班",
          departments=("hr",), weight=0.06,
          asks=("招工难问题", "职业技能培训补贴", "员工社保转移", "劳务派遣用工备案",
                "稳岗返还"),
          problems=("旺季订单增加，一线普工缺口约{k}人",
                    "企业组织的技能培训补贴申请已{d}个工作日未审核",
                    "外省员工社保转移接续办理困难",
                    "稳岗返还资金未按时到账"),
          replies=("人社局已组织专场招聘会，企业现场招聘{k}人。",
                   "培训补贴已审核通过并拨付。",
                   "社保经办机构已协调转出地，转移手续已办结。")),
    Topic(tag="物流", extra_tags=("交通运输", "货运"), board="要素保障专班",
          departments=("transport",), weight=0.05,
          asks=("货车通行证办理", "园区道路拥堵", "港口集装箱运力", "冷链物流配送",
                "危险品运输许可"),
          problems=("厂区周边道路限行，货车进出需办理通行证，办理周期长",
                    "园区主干道上下班高峰严重拥堵，影响原料进厂",
                    "出口旺季集装箱紧缺，运费上涨约{k}成",
                    "危险货物道路运输许可到期换证材料复杂"),
          replies=("交通运输局已为企业办理长期通行证，有效期一年。",
                   "已优化园区路口信号配时并增设临时停车区，拥堵明显缓解。",
                   "已协调港口和船公司增加舱位，企业出货已恢复正常。")),
    Topic(tag="5G基站", extra_tags=("通信", "数字化改造"), board="要素保障专班",
          departments=("telecom", "economy"), weight=0.04,
          asks=("5G基站建设", "厂区5G信号覆盖", "5G专网接入", "光纤宽带接入"),
          problems=("新厂区位于山区，手机信号弱，5G网络尚未覆盖",
                    "企业数字化车间需要5G专网，运营商报价较高",
                    "基站选址遇到周边居民阻工",
                    "园区光纤接入需要破路施工，审批时间长"),
          replies=("已协调运营商在厂区附近新建5G基站一座，信号已覆盖。",
                   "经信局已将企业纳入5G专网试点，费用按政策给予补助。",
                   "已会同属地乡镇做好群众工作，基站已开工建设。")),
    Topic(tag="认证", extra_tags=("ISO9001", "质量标准"), board="企业服务专班",
          departments=("market",), weight=0.04,
          asks=("ISO9001质量管理体系认证", "品字标浙江制造认证", "计量器具检定",
                "产品质量检验", "标准化试点申报"),
          problems=("企业申请ISO9001质量管理体系认证，希望了解认证补助政策",
                    "出口产品需要第三方检测报告，本地检测机构排期较长",
                    "计量器具检定周期到期，送检排队时间长",
                    "拟参与行业标准制定，不清楚申报流程"),
          replies=("市场监管局已讲解认证补助政策，企业已完成ISO9001认证并获得补助。",
                   "已协调检验检测机构开通加急通道，报告已出具。",
                   "已安排计量所上门检定，检定证书已发放。")),
    Topic(tag="环保", extra_tags=("排污许可", "环评"), board="项目审批专班",
          departments=("ecology",), weight=0.05,
          asks=("排污许可证延续", "环评审批", "危废处置", "废气治理设施改造",
                "环保信用修复"),
          problems=("排污许可证将于{d}天后到期，延续申请尚未受理",
                    "危险废物处置单位收运不及时，厂内暂存量接近上限",
                    "废气治理设施改造方案需要专家论证",
                    "企业已完成整改，希望修复环保信用"),
          replies=("生态环境分局已受理延续申请，排污许可证已换发。",
                   "已协调危废处置单位增加收运频次，暂存问题已解决。",
                   "已组织专家论证，改造方案通过评审。")),
    Topic(tag="消防", extra_tags=("消防验收", "安全生产"), board="项目审批专班",
          departments=("fire", "housing"), weight=0.03,
          asks=("消防验收", "消防设计审查", "消防安全检查整改"),
          problems=("新建厂房已竣工，消防验收预约排期较长",
                    "消防设计审查意见与设计院理解不一致",
                    "检查中发现的消防隐患已整改完毕，希望尽快复查"),
          replies=("已安排专人现场验收，消防验收意见书已出具。",
                   "已组织设计院与审查人员对接，设计方案已修改通过。",
                   "已完成复查，隐患整改到位。")),
    Topic(tag="政策兑现", extra_tags=("补助资金", "奖励兑现"), board="政策兑现专班",
          departments=("economy", "fiscal", "science"), weight=0.08,
          asks=("技改补助资金兑现", "亩均效益奖励", "专精特新奖励", "上规升级奖励",
                "研发投入补助"),
          problems=("{y}年度技改项目补助资金已公示，至今未拨付",
                    "企业获评专精特新中小企业，奖励资金尚未兑现",
                    "政策兑现系统提交材料后一直显示审核中",
                    "对亩均效益评价结果有异议，希望复核"),
          replies=("财政资金已拨付，补助资金{w}万元已到账。",
                   "经信局已完成复核，奖励资金已按政策兑现。",
                   "已协调系统运维人员处理，申报材料已进入审核环节并办结。")),
    Topic(tag="知识产权", extra_tags=("专利", "商标"), board="企业服务专班",
          departments=("market", "science"), weight=0.03,
          asks=("专利快速预审", "商标侵权维权", "知识产权质押登记", "专利资助申请"),
          problems=("企业核心产品被仿冒，商标维权困难",
                    "发明专利申请已{d}个月未授权，希望走快速预审通道",
                    "专利资助申请材料被退回，退回原因不清楚"),
          replies=("市场监管局已立案查处侵权行为，涉案产品已下架。",
                   "已将企业纳入快速预审备案名单。",
                   "已电话告知退回原因，企业补正后资助已发放。")),
    Topic(tag="外贸", extra_tags=("出口", "通关"), board="开放型经济专班",
          departments=("commerce",), weight=0.04,
          asks=("出口信用保险", "通关便利化", "境外参展补助", "海外仓建设支持",
                "贸易摩擦应对"),
          problems=("海外客户拖欠货款约{w}万元，希望了解出口信用保险理赔",
                    "出口货物查验率高，通关时间长",
                    "参加境外展会的补助申请尚未审批",
                    "产品遭遇反倾销调查，企业应诉能力不足"),
          replies=("商务局已协调保险机构启动理赔，赔款已到账。",
                   "已对接海关，企业已纳入高级认证企业培育名单。",
                   "境外参展补助已审核通过并拨付。")),
    Topic(tag="数字化改造", extra_tags=("智能制造", "企业上云"), board="企业服务专班",
          departments=("economy",), weight=0.04,
          asks=("智能工厂申报", "数字化改造诊断", "企业上云补助", "工业互联网平台接入"),
          problems=("企业计划对{k}条生产线实施数字化改造，缺少专业诊断服务",
                    "智能工厂申报条件不清楚",
                    "上云补助申请已提交{d}个工作日未审核"),
          replies=("已安排服务商免费开展数字化诊断，改造方案已出具。",
                   "经信局已组织申报辅导，企业已完成申报。",
                   "上云补助已审核通过并拨付。")),
    Topic(tag="水电气", extra_tags=("供水", "燃气"), board="要素保障专班",
          departments=("water", "housing"), weight=0.03,
          asks=("工业用水报装", "天然气管道接入", "供水压力不足", "燃气价格咨询"),
          problems=("新厂区用水报装已{d}个工作日未通水",
                    "企业锅炉煤改气，天然气管道接入费用较高",
                    "夏季用水高峰时段供水压力不足，影响生产"),
          replies=("水务集团已完成管道接驳，企业已正常用水。",
                   "已协调燃气公司优化接入方案，费用按政策减免。",
                   "已对区域管网进行加压改造，供水压力恢复正常。")),
    Topic(tag="安全生产", extra_tags=("隐患整改", "应急"), board="营商环境专班",
          departments=("safety",), weight=0.02,
          asks=("安全生产许可证延期", "安全评价备案", "重大隐患整改指导"),
          problems=("安全生产许可证到期延期材料审核时间长",
                    "检查发现的隐患整改标准不明确",
                    "危化品仓库改造需要专家指导"),
          replies=("应急管理局已开通延期办理绿色通道，许可证已延期。",
                   "已组织专家上门指导，整改标准已明确，企业已整改完毕。",
                   "专家已现场指导，仓库改造方案已确定。")),
    Topic(tag="子女入学", extra_tags=("员工服务", "教育"), board="人才服务专班",
          departments=("education",), weight=0.02,
          asks=("员工子女入学", "外来务工人员子女就读", "人才子女择校"),
          problems=("企业{k}名外地员工子女无法在厂区附近学校就读",
                    "引进人才子女入学政策不清楚"),
          replies=("教育局已统筹安排学位，员工子女已全部入学。",
                   "已向企业详细解读人才子女入学政策，相关子女已落实学位。")),
    Topic(tag="科技项目", extra_tags=("高新技术企业", "研发"), board="政策兑现专班",
          departments=("science",), weight=0.03,
          asks=("高新技术企业认定", "省级研发中心申报", "科技型中小企业评价",
                "科技成果转化"),
          problems=("企业拟申报高新技术企业，研发费用占比计算存在疑问",
                    "省级研发中心申报材料准备不充分，希望得到辅导",
                    "与高校合作的科技成果转化项目缺少中试场地"),
          replies=("科技局已组织申报辅导，企业已通过高新技术企业认定。",
                   "已安排专家指导，研发中心已获批。",
                   "已协调科创园区提供中试场地。")),
)

PROJECTS = ("年产{k}万套汽车零部件项目", "新材料产业园二期项目", "智能装备生产基地项目",
            "厂区扩建项目", "技改提升项目", "新建标准厂房项目", "锂电池材料生产线项目",
            "绿色家居智能制造项目", "生物医药研发中心项目", "竹木制品深加工项目",
            "新能源电池回收项目", "高端纺织面料项目", "数字化车间改造项目")
INTROS = ("我公司主要从事{industry}，现有员工{e}人，", "本企业是一家{industry}企业，",
          "我司于{y}年落户{u}，主营{industry}，", "企业现有职工{e}人，年产值约{w}万元，")
IMPACTS = ("目前已影响订单交付，", "如不能及时解决，将影响项目按期投产，",
           "已造成一定经济损失，", "企业经营压力较大，", "")
REQUESTS = ("恳请相关部门协调解决。", "希望政府帮助协调。", "请尽快给予答复。",
            "希望有关部门加快办理。", "恳请领导关心支持。")
TITLE_TEMPLATES = ("关于{ask}的诉求", "{ask}进度咨询", "申请协调{ask}", "{project}{ask}问题",
                   "反映{ask}办理缓慢", "{ask}相关政策咨询", "关于{project}{ask}的请求",
                   "请求帮助解决{ask}问题")

INDUSTRIES = ("新材料", "纺织", "机械制造", "电子科技", "生物医药", "竹木制品", "新能源",
              "物流", "建材", "电池", "家具", "童装", "铝型材", "智能装备", "食品加工",
              "汽车零部件", "绿色家居", "化纤", "金属制品", "电机")
NAME_WORDS = ("恒达", "鑫源", "宏盛", "华腾", "浙北", "太湖", "绿源", "瑞丰", "天成",
              "金洲", "永兴", "久盛", "东方", "博远", "中恒", "丰华", "明辉", "振邦",
              "凯瑞", "嘉禾", "远航", "合力", "新越", "龙升", "正泰", "德润", "安盛",
              "万通", "华宇", "康达", "海纳", "星辰", "祥和", "顺发", "精工", "荣信")
COMPANY_TYPES = ("有限公司", "股份有限公司", "有限责任公司", "科技有限公司")

NOTES = ("请加快办理", "已电话联系企业了解情况", "转相关部门研究", "请按时限办结",
         "已与企业沟通", "请核实后答复", "重点关注", "请主要负责人牵头办理")
URGE_NOTES = ("企业来电催办", "诉求办理超时，请抓紧", "企业再次反映，请加快进度", None)
REJECT_REASONS = ("不属于受理范围，已告知企业通过司法途径解决", "诉求内容不明确，无法办理",
                  "属于民事纠纷，建议通过仲裁途径解决", "重复提交，已并入原诉求办理")
RATING_COMMENTS = ("办理及时，非常满意", "问题已解决，感谢", "基本解决，希望后续继续关注",
                   "办理时间较长", "问题未解决", None)
ESCALATE_REASONS = ("涉及跨区域协调，县级无法解决", "需市级部门统筹协调",
                    "企业多次催办，县级协调未果")
RETURN_INSTRUCTIONS = ("属县级事权，请属地继续办理并加强跟踪", "已明确责任部门，请县里落实",
                       "请属地会同相关部门办理")
SUPERVISE_NOTES = ("请加大协调力度，按期办结", "企业反映强烈，请重点督办", "请报送办理进展")
CLOSE_NOTES = ("企业超期未评价，系统自动办结", "回访确认已解决，办结", None)


def pick(rng: random.Random, words: Sequence[T]) -> T:
    return words[int(rng.random() * len(words))]


class _Slots(dict[str, str]):
    """The numeric slots of a template, drawn only when the template uses them."""

    def __init__(self, rng: random.Random, known: dict[str, str]) -> None:
        super().__init__(known)
        self.rng = rng

    def __missing__(self, key: str) -> str:
        r = self.rng.random()
        match key:
            case "k":
                return str(2 + int(r * 29))
            case "w":
                return str((50, 80, 120, 200, 300, 500, 800)[int(r * 7)])
            case "d":
                return str(5 + int(r * 36))
            case "m":
                return str(10 + int(r * 111))
            case "e":
                return str(30 + int(r * 871))
            case "y":
                return str(2008 + int(r * 17))
        raise KeyError(key)


def fill(rng: random.Random, template: str, **known: str) -> str:
    """`template` with its numeric slots ({k} {w} {d} {m} {e} {y}) drawn from `rng`."""
    return template.format_map(_Slots(rng, known))


@dataclass(frozen=True, kw_only=True, slots=True)
class Texts:
    title: str
    content: str
    tags: tuple[str, ...]


def issue_texts(rng: random.Random, topic: Topic, unit: Unit, industry: str) -> Texts:
    """A title, a content and the submitted tags of one issue on `topic`."""
    ask = pick(rng, topic.asks)
    project = fill(rng, pick(rng, PROJECTS))
    title = pick(rng, TITLE_TEMPLATES).format(ask=ask, project=project)
    parts = [fill(rng, pick(rng, INTROS), industry=industry, u=unit.name)]
    if rng.random() < 0.6:
        parts.append(f"{project}正在推进，")
    parts.append(fill(rng, pick(rng, topic.problems)) + "，")
    if rng.random() < 0.4:
        other = pick(rng, topic.problems)
        parts.append("同时" + fill(rng, other) + "，")
    parts.append(pick(rng, IMPACTS))
    parts.append(f"现就{ask}事宜提出诉求，" + pick(rng, REQUESTS))
    tags: tuple[str, ...] = ()
    if rng.random() < 0.5:  # half of the enterprises tag their issue themselves
        tags = (topic.tag,)
    return Texts(title=title[:100], content="".join(parts), tags=tags)


def triage_tags(rng: random.Random, topic: Topic) -> tuple[str, ...]:
    """The tags a dispatcher sets: the topic's tag and up to two related ones."""
    extra = [t for t in topic.extra_tags if rng.random() < 0.35]
    return (topic.tag, *extra)


def reply(rng: random.Random, topic: Topic) -> str:
    return fill(rng, pick(rng, topic.replies)) + pick(
        rng, ("", "企业表示满意。", "已电话回复企业。", "后续将持续跟踪服务。"))


def department_name(key: str, unit: Unit) -> str:
    return DEPARTMENTS[key].format(u=unit.name)


def enterprise_name(rng: random.Random, unit: Unit, industry: str) -> str:
    prefix = unit.short if rng.random() < 0.7 else ""
    return f"{prefix}{pick(rng, NAME_WORDS)}{industry}{pick(rng, COMPANY_TYPES)}"


def topic_weights() -> list[float]:
    return [t.weight for t in TOPICS]
