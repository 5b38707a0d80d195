"""The sample county's units, the words its ledger is written in, and how often things happen in it."""

from __future__ import annotations

from dataclasses import dataclass

DEPARTMENTS: tuple[tuple[str, str], ...] = (
    ("fgj", "发改局"),
    ("czj", "财政局"),
    ("sfj", "司法局"),
    ("jyj", "教育局"),
    ("gaj", "公安局"),
    ("mzj", "民政局"),
    ("rsj", "人社局"),
    ("zrj", "自然资源局"),
    ("sthj", "生态环境局"),
    ("zjj", "住建局"),
    ("jtj", "交通运输局"),
    ("slj", "水利局"),
    ("nyj", "农业农村局"),
    ("swj", "商务局"),
    ("wlj", "文旅局"),
    ("wjw", "卫健委"),
    ("yjj", "应急管理局"),
    ("scj", "市场监管局"),
    ("tjj", "统计局"),
    ("ybj", "医保局"),
    ("lcj", "林草局"),
    ("sjj", "审计局"),
    ("xfj", "信访局"),
    ("spj", "行政审批局"),
    ("gxj", "工信局"),
)

TOWNSHIPS: tuple[tuple[str, str], ...] = (
    ("cgz", "城关镇"),
    ("mxz", "芒辛镇"),
    ("xcz", "新城镇"),
    ("hkz", "河口镇"),
    ("gqz", "高桥镇"),
    ("qsx", "青山乡"),
    ("smx", "石门乡"),
    ("llz", "柳林镇"),
    ("dyx", "大营乡"),
    ("byz", "白杨镇"),
    ("hxx", "红星乡"),
    ("nhz", "南湖镇"),
    ("bsx", "北塬乡"),
    ("dpz", "东坡镇"),
    ("yzx", "杨庄乡"),
)

# Departments that answer for emergencies alongside the townships.
EMERGENCY_DEPARTMENTS = ("yjj", "gaj", "jtj", "zjj", "lcj", "slj", "wjw")

TOPICS = (
    "重点项目用地保障",
    "民生实事资金拨付",
    "农村人居环境整治",
    "高标准农田建设",
    "营商环境优化提升",
    "招商引资项目签约",
    "安全生产隐患排查",
    "防汛备汛",
    "森林防火巡查",
    "义务教育薄弱环节改善",
    "医保基金监管",
    "乡村振兴衔接资金使用",
    "老旧小区改造",
    "城乡供水一体化",
    "秸秆禁烧",
    "冬季清洁取暖",
    "根治欠薪",
    "食品安全抽检",
    "信访积案化解",
    "河湖长制巡河",
    "规上工业企业培育",
    "重点项目开工复工",
    "耕地保护和违法用地整治",
    "黑臭水体治理",
    "养老服务设施建设",
    "就业创业补贴发放",
    "低保动态管理",
    "道路交通安全整治",
    "环保督察反馈问题整改",
    "政务服务一网通办",
    "统计数据质量核查",
    "市场主体培育",
    "文旅项目推进",
    "农产品冷链物流建设",
    "电商进农村",
    "校园安全管理",
    "自建房安全专项整治",
    "燃气安全排查",
    "城乡环卫一体化",
    "数字乡村建设",
)
INCIDENTS = (
    "道路交通事故",
    "山体滑坡",
    "民房火灾",
    "强降雨致道路中断",
    "森林火情",
    "燃气泄漏",
    "危化品运输车辆侧翻",
    "人员聚集",
    "溺水事故",
    "建筑工地坍塌",
    "冰雹灾害",
    "大面积停水停电",
)
HOTLINE = (
    "小区物业服务纠纷",
    "农民工工资拖欠",
    "道路积水",
    "夜间施工噪声扰民",
    "路灯不亮",
    "供暖温度不达标",
    "违章搭建",
    "占道经营",
    "医保报销咨询",
    "学位申请咨询",
    "养老金领取",
    "排水管网堵塞",
)
REJECT_NOTES = (
    "缺少佐证材料",
    "数据口径与统计部门不一致",
    "未见实质性进展，请补充",
    "反馈内容与交办要求不符",
)
CANCEL_NOTES = (
    "上级已调整部署",
    "事项已并入其他督办件",
    "交办单位有误，已重新交办",
    "情况发生变化，无需办理",
)
PROGRESS_NOTES = ("已完成阶段性任务", "正在推进，按计划实施", "已召开专题会议研究部署", "已完成方案制定")
ERROR_DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "meeting": ("会议材料未按时报送", "参会人员无故缺席", "会议通知传达不及时", "会场准备不到位"),
    "drafting": ("报送材料数据口径不一致", "代拟文稿格式不规范", "文件材料出现明显错漏", "汇报材料篇幅冗长"),
    "implementation": ("重点工作推进不力", "督办事项逾期未办结", "交办事项反馈不实", "整改落实不到位"),
    "information": ("值班信息迟报", "突发事件信息漏报", "报送数据与行业部门不一致", "政务信息报送质量不高"),
    "other": ("请销假制度执行不严", "政务公开信息更新不及时", "12345工单回复不规范"),
}
ERROR_CATEGORY_WEIGHTS = (
    ("meeting", 2),
    ("drafting", 3),
    ("implementation", 4),
    ("information", 3),
    ("other", 1),
)
SEVERITY_WEIGHTS = (("general", 65), ("serious", 27), ("grave", 8))
LEVEL_WEIGHTS = (("county", 45), ("municipal", 30), ("provincial", 18), ("national", 7))
LEVEL_REASONS = {
    "national": ("入选国家级试点", "获国家级表彰"),
    "provincial": ("获省政府通报表扬", "经验做法在全省推广"),
    "municipal": ("获市级先进集体", "市级考核争先进位"),
    "county": ("县级特色创新工作", "重点工作攻坚表现突出"),
}
# Decided appeals against accountability records (upheld voids the record), in the order they are drawn.
ACCOUNTABILITY_APPEALS = (
    (True, "所涉事项已在规定时限内办结，有办结报告为证"),
    (False, "认为处理过重，请求从轻"),
)
# How a unit's own target (目标责任书) departs from the scheme's: most counties ask more of a few units.
TARGET_FACTORS = (0.9, 1.1, 1.2)
ACCOUNTABILITY_REASONS = {
    "interview": "重点工作落实不力，工作约谈",
    "circulated_criticism": "督办事项逾期未反馈，通报批评",
    "admonishment": "落实上级决策部署不力，诫勉谈话",
    "disciplinary": "违反工作纪律，受到政务处分",
}


@dataclass(frozen=True)
class Profile:
    """How often a task type occurs in a year and how its titles read."""

    count: int
    pool: str  # "any", "department" or "emergency"
    source: str
    titles: tuple[str, ...]


PROFILES: dict[str, Profile] = {
    "instruction_relay": Profile(
        50, "any", "上级领导指示批示", ("传达市委主要领导批示：{topic}", "传达县长批示：{topic}")
    ),
    "urgent_document": Profile(70, "any", "上级特急文件", ("特急文件批办：关于做好{topic}工作的紧急通知",)),
    "emergency_call": Profile(30, "emergency", "县总值班室", ("电话报告：{place}{incident}",)),
    "emergency_written": Profile(30, "emergency", "县总值班室", ("书面报告：{place}{incident}",)),
    "security_incident_info": Profile(
        20, "emergency", "县总值班室", ("安全稳定信息报送：{place}{incident}",)
    ),
    "leader_directive": Profile(
        260,
        "any",
        "县政府领导批示",
        ("落实县长批示：{topic}", "落实副县长批示：{topic}", "落实县委交办事项：{topic}"),
    ),
    "meeting_decision": Profile(
        220, "any", "县政府常务会议", ("县政府常务会议确定事项：{topic}", "专题会议确定事项：{topic}")
    ),
    "draft_revision": Profile(
        50, "department", "县政府常务会议", ("代拟文件修改印发：关于推进{topic}的实施意见",)
    ),
    "revision_comments": Profile(
        30, "department", "县政府领导修改意见", ("按领导意见修改送审：{topic}工作方案",)
    ),
    "major_revision": Profile(15, "department", "县政府领导修改意见", ("重大修改送审：{topic}实施方案",)),
    "countersign": Profile(110, "department", "县政府办公室", ("会签：{topic}工作方案",)),
    "minutes_signoff": Profile(50, "department", "县政府办公室", ("会议纪要签发：{topic}专题会议",)),
    "supervision_letter": Profile(90, "any", "督办函", ("督办函：{topic}进度滞后",)),
    "supporting_document_draft": Profile(15, "department", "上级文件", ("配套文件送审：{topic}实施细则",)),
    "supporting_document": Profile(25, "department", "上级文件", ("配套文件出台：{topic}实施细则",)),
    "hotline_request": Profile(180, "any", "12345热线", ("12345工单：{hotline}",)),
    "deputy_proposal": Profile(
        35,
        "department",
        "人大代表建议、政协提案",
        ("人大代表建议办理：关于加快{topic}的建议", "政协提案办理：关于{topic}的提案"),
    ),
    "public_commitment": Profile(12, "any", "县政府公开承诺", ("公开承诺事项：{topic}",)),
    "inspection_rectification": Profile(
        20, "any", "巡察审计反馈", ("巡察反馈问题整改：{topic}", "审计反馈问题整改：{topic}")
    ),
}
DEFAULT_COUNT = 30
ASSIGN_HOURS = (8 * 60 + 30, 17 * 60 + 30)  # tasks are assigned during office hours, 5-minute grain
OFFICE_HOURS = (9 * 60, 18 * 60)  # reports, verifications and closings
