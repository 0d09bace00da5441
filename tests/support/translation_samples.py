# ruff: noqa: E501  (long lines are paragraphs of text data)
"""Real zh/en news translation pairs (a published bilingual story: title, lead and analysis
paragraphs, human-edited translations). Used to show that the QA checks pass good translations, to
answer translate requests in scripted-server tests, and by bench/translate.py."""

from __future__ import annotations

TITLE = (
    "氪星晚报 |OpenAI首席财务官谈公司AI设备:今年年底前将正式发布;腾讯客服回应与华为、小米等合作;香港推出首个生产力级超级智能体",
    "Krypton Star Evening News: OpenAI CFO on AI Device Release by End of Year; Tencent Responds to Collaborations with Huawei, Xiaomi; Hong Kong Launches First Productivity-Level Super Agent",
)

SUMMARY = (
    "OpenAI首席财务官Sarah Friar亲口说年底发布AI设备,Meta却把自家Muse Spark模型API的发布计划一拖再拖。这场景像极了科技圈的“凡尔赛与躺平”——一边是急于用硬件故事喂饱资本市场,一边是连软件都交不出作业。AI大厂的体面,在2026年这刻显得如此参差。",
    'OpenAI\'s CFO Sarah Friar personally announced the release of an AI device by year-end, while Meta keeps delaying the launch plan for its Muse Spark model API. This scenario is reminiscent of the "Versailles vs. lying flat" contrast in the tech industry—one side is eager to feed the capital market with hardware narratives, while the other struggles to deliver even on software commitments. For AI giants, their poise appears strikingly uneven as we hit 2026.',
)

# (Chinese, English) paragraph pairs.
PARAGRAPHS: list[tuple[str, str]] = [
    (
        "先看OpenAI这步棋。CFO亲自试用并官宣,摆明了要抢在年底购物季前制造话题。但别忘了他们自己早前文件里白纸黑字写着“最早2027年2月发货”。这时间线的反复,像极了硅谷经典剧本:先画饼稳住股价,再默默修改里程碑。AI设备到底是什么?可穿戴?家居硬件?官方闭口不谈,只剩高管的模糊体验报告。这种神秘感,究竟是技术保密,还是连个原型机都拿不出来?OpenAI从研究实验室转向产品公司,每一步都透着急吼吼的铜臭味——毕竟,光靠订阅费和API收入,撑不起万亿美元估值的想象。",
        "First, let’s examine OpenAI’s move. The CFO personally testing and announcing the device clearly aims to generate buzz before the holiday shopping season. But don’t forget, their own earlier documents explicitly stated “shipping no earlier than February 2027.” This shifting timeline is classic Silicon Valley: sketch a vision to stabilize stock prices, then quietly revise milestones. What exactly is this AI device? Wearable? Home hardware? Officials remain tight-lipped, leaving only vague executive reports. Is this secrecy about technology, or is it because they can’t even produce a prototype? OpenAI’s transition from a research lab to a product company reeks of haste—after all, subscriptions and API revenues alone can’t sustain the imagination of a trillion-dollar valuation.",
    ),
    (
        "反观Meta,简直把“拖延症”写成行业教科书。知情人士说API测试中,发言人称“期待本月发布”,但截至周二仍无定论。Meta的AI部门像在迷宫里兜圈:Llama系列开源风光,但商业化产品却难产。Zuckerberg嘴里元宇宙和AI双轮驱动,现实却是轮子卡在泥里。A2A协作、智能体这些概念炒得火热,自家开发者却连个稳定接口都等不到。这种“战略上宏大,战术上掉链子”的毛病,恐怕不是靠裁员和重组能治的。",
        "Meta, on the other hand, seems to have turned procrastination into an industry textbook case. Insiders say the API is still in testing, spokespersons claim “expectations for release this month,” but as of Tuesday, nothing is final. Meta’s AI division seems stuck in a loop: the Llama series shines in open source, but commercial products struggle to materialize. Zuckerberg talks about the dual drivers of the metaverse and AI, but in reality, the wheels are stuck in the mud. Concepts like A2A collaboration and agents are hyped, yet developers can’t even get a stable interface. This “grand strategy, tactical failures” issue likely can’t be solved by layoffs and restructuring alone.",
    ),
    (
        "行业里并非全是荒腔走板。字节跳动2026年的四个命题——世界模型追SOTA、视频模型求新、Coding打地基、豆包商业化攻办公——倒是难得清醒。尤其是“Dogfooding”数据回流这一手,比某些公司只会烧钱刷榜实在多了。字节把AI当工程问题解,而非魔法故事讲,这种务实或许才是后来者突围的关键。但隐患也藏在野心里:世界模型对标Google Genie 3,视频模型要“动态生成”,每项都是吞金巨兽。字节现金流还扛得住这种军备竞赛吗?办公场景的商业化更是硬骨头,面对微软Copilot和Google Workspace的生态壁垒,豆包凭什么让用户换平台?",
        "The industry isn’t all missteps. ByteDance’s four objectives for 2026—world model chasing SOTA, video model innovation, building a coding foundation, and commercializing Doubao in office scenarios—are refreshingly practical. Especially the “dogfooding” data feedback loop, which is far more substantive than some companies just burning cash to top benchmarks. ByteDance treats AI as an engineering problem to solve, not a magical story to tell—this pragmatism might be key for newcomers to break through. But hidden in this ambition are risks: the world model aims to rival Google’s Genie 3, the video model seeks “dynamic generation”—each a resource-intensive endeavor. Can ByteDance’s cash flow withstand such an arms race? Commercializing office scenarios is another tough nut, facing ecosystem barriers from Microsoft Copilot and Google Workspace. What gives Doubao the edge to make users switch platforms?",
    ),
    (
        "AI基建合作热闹得像菜市场。鸿海和SK集团握手,谈服务器、数据中心、能源——这组合拳瞄准的是全球算力命脉。鸿海从代工巨头转型AI基建玩家,SK从电池延伸到数据中心能源,两边各取所需,但合纵连横背后藏着供应链重组的暗流。另一边,小米旗下基金入股芯片公司恒脉微,注册资本增资,看似小动作,实则暴露小米在AI硬件底层的焦虑。手机厂商做芯片已是标配,但小米通过创投布局集成电路设计,显然想卡位未来端侧AI的算力缺口。只是,恒脉微成立不过三年,技术积淀成色如何?小米的投资风格向来广撒网,但芯片这行,钱烧不出核心竞争力。",
        "AI infrastructure partnerships are bustling like a marketplace. Foxconn and SK Group shook hands to discuss servers, data centers, and energy—a combination aiming at the global compute lifeline. Foxconn, transitioning from a contract manufacturer to an AI infrastructure player, and SK, extending from batteries to data center energy, each take what they need. But behind this collaboration lies undercurrents of supply chain restructuring. On another front, Xiaomi’s fund invested in chipmaker Hengmai Micro, increasing its registered capital. This seems like a minor move but reveals Xiaomi’s anxiety about AI hardware fundamentals. Smartphone makers producing chips is now standard, but Xiaomi’s venture investment in integrated circuit design shows it’s positioning itself for future edge-AI compute gaps. However, Hengmai Micro is only three years old—how substantial is its tech foundation? Xiaomi’s investment style has always been broad, but in the chip industry, money alone can’t buy core competitiveness.",
    ),
    (
        "阿里速卖通海外618品牌GMV渗透率近40%,泳池机器人、3D打印等品类暴涨。这数据本身无关AI,但折射出中国制造正从“廉价”转向“技术品牌出海”。AI赋能供应链和跨境服务,或许是隐藏主线——毕竟,智能选品、动态定价背后,早有算法在运转。然而,品牌爆发的背后,有多少是真实溢价,多少是平台补贴催生的泡沫?速卖通的“差异化解决方案”,说白了还是流量游戏。",
        "AliExpress saw global 618 brand GMV penetration near 40%, with categories like pool robots and 3D printing surging. This data isn’t directly AI-related, but it reflects Chinese manufacturing shifting from “cheap” to “tech-brand global expansion.” AI empowering supply chains and cross-border services might be a hidden theme—after all, smart product selection and dynamic pricing already rely on algorithms. Yet behind the brand explosion, how much is real premium versus bubbles inflated by platform subsidies? AliExpress’s “differentiated solutions” ultimately remain a traffic game.",
    ),
    (
        "监管和标准开始动真格。小红书重拳整顿金融专业号,一周处置1500多个违规账号,甚至打击“外资投行研报低价倒卖”。这刀法精准,直接捅破了知识付费的灰色地带。平台治理金融内容,早该如此——多少韭菜被所谓“研报”忽悠进场?但小红书的初衷恐怕更多是自保:金融风险一旦爆雷,平台难辞其咎。另一边,“公有云大模型Token服务性能监测平台”即将上线,官方量化评估吞吐率和时延。这本是好事,但警惕的是,标准制定权一旦落入特定机构手中,可能变成另一种垄断工具。Token性能公开透明,但定价权、接口权限呢?别到头来,监测平台成了大厂的护身符。",
        "Regulation and standards are getting serious. Xiaohongshu cracked down on financial accounts, penalizing over 1,500 accounts in a week, even targeting “low-price resale of foreign investment bank reports.” This precise move exposed the gray area of paid knowledge. Platform governance of financial content was long overdue—how many retail investors were misled by所谓的 “reports”? But Xiaohongshu’s motives are likely self-protection: financial risks一旦爆发, the platform can’t escape blame. Meanwhile, a “Public Cloud Large Model Token Service Performance Monitoring Platform” is set to launch, officially quantifying throughput and latency. This is positive, but beware: if standard-setting falls into specific hands, it could become another tool of monopoly. Token performance might be transparent, but what about pricing power and interface access? In the end, the monitoring platform might just become a shield for big tech.",
    ),
    (
        "技术前沿的进展冷静而缓慢。台积电魏哲家坦言CoPoS试产线需两三年才能放量,先进封装的军备竞赛远未到冲刺阶段。这句大实话,打脸了多少“技术爆炸”的鼓吹者?芯片迭代从来不是魔法,而是物理极限下的精雕细琢。工信部推6G创新试点,目标2029年形成自主技术方案——时间表拉到三年后,说明官方也认清6G仍是远景,而非近火。相比之下,香港推出“生产力级超级智能体”则显得有些仓促,本地大模型HKGAIV3的能效和场景适配度,恐怕还需市场检验。",
        "Frontier tech advances calmly and slowly. TSMC’s C.C. Wei admitted that CoPoS production lines need two to three years to scale— the advanced packaging arms race is far from a sprint. This honest statement deflates many “technology explosion” advocates. Chip iteration isn’t magic; it’s meticulous refinement within physical limits. China’s Ministry of Industry and Information Technology is pushing 6G innovation pilots, targeting an autonomous technical solution by 2029—the extended timeline shows officials recognize 6G is still a distant prospect. In contrast, Hong Kong’s launch of a “productivity-level super agent” seems somewhat hasty; the energy efficiency and scenario adaptability of the local large model HKG AI V3 likely need market validation.",
    ),
    (
        "自动驾驶领域,Uber对Nuro追加投资近5亿美元,累计承诺额惊人。这笔钱在自动驾驶寒冬里像一根救命稻草,但也暴露Uber的焦虑:自研多年无果,只得靠外部押注维持颜面。Nuro的无人配送车在硅谷测试多年,商业化规模却始终有限。Uber的巨额投资,会不会又沦为“学费”?行业里总有人前赴后继烧钱,但自动驾驶的终极答案,恐怕不在资本厚度,而在场景突破的巧劲。",
        "In autonomous driving, Uber invested nearly $500 million more in Nuro, a staggering cumulative commitment. This investment is a lifeline in the autonomous driving winter, but it also exposes Uber’s anxiety: after years of in-house development with little result, it must rely on external bets to save face. Nuro’s autonomous delivery vehicles have tested in Silicon Valley for years, but commercial scale remains limited. Will Uber’s massive investment once again become “tuition fees”? Some in the industry keep burning money, but the ultimate answer for autonomous driving likely lies not in capital depth, but in clever breakthroughs in specific scenarios.",
    ),
    (
        "葵花药业申请盐酸氨溴索口服溶液上市,看似与AI无关,实则映射医药行业的数字化渗透。从研发到营销,AI正在重塑传统药企,只是这种转型往往静水流深,不如科技公司喧嚣。",
        "Kuihua Pharmaceutical’s application for the marketing of Ambroxol Hydrochloride Oral Solution seems unrelated to AI but actually reflects the digital penetration of the pharmaceutical industry. From R&D to marketing, AI is reshaping traditional pharma—though this transformation is often subtle, unlike the noise from tech companies.",
    ),
    (
        "英国5月纯电车销量暴涨34%,市场份额创新高。数据喜人,但背后是政策补贴和充电网络的双重驱动。AI在汽车智能座舱和自动驾驶中的角色日益核心,但基础设施的适配性仍滞后于销售数字。",
        "UK pure electric vehicle sales surged 34% in May, hitting a record market share. The data is encouraging, but it’s driven by policy subsidies and charging network expansion. AI’s role in automotive intelligent cabins and autonomous driving is increasingly central, yet infrastructure adaptation still lags behind sales figures.",
    ),
    (
        "回到开篇的对比:OpenAI和Meta的节奏失调,暴露了AI行业集体焦虑——要么急着证明自己,要么在复杂化中迷失。而字节、小米、鸿海这些玩家,正用不同的姿态拆解AI产业链。没有谁对谁错,只有适者生存。未来的AI战争,早已不是单点技术突破,而是生态、资本、耐力的混合博弈。那些光鲜发布会背后的拉扯、推迟、妥协,才是产业真实的底色。",
        "Returning to the opening contrast: the mismatched rhythms of OpenAI and Meta expose the collective anxiety of the AI industry—either rushing to prove oneself or getting lost in complexity. Meanwhile, players like ByteDance, Xiaomi, and Foxconn are dissecting the AI industry chain with different approaches. There’s no right or wrong, only survival of the fittest. Future AI battles will no longer be about single technological breakthroughs but a hybrid contest of ecosystems, capital, and endurance. The struggles, delays, and compromises behind those shiny launch events are the true colors of the industry.",
    ),
]


def translation_table() -> dict[str, str]:
    """Every text above mapped to its translation, both directions (for TranslatingResponder)."""
    table: dict[str, str] = {}
    for zh, en in [TITLE, SUMMARY, *PARAGRAPHS]:
        table[zh] = en
        table[en] = zh
    return table


def chinese_body(min_chars: int) -> str:
    """The first paragraphs of the Chinese text, at least ``min_chars`` characters in all."""
    chosen: list[str] = []
    for zh, _ in PARAGRAPHS:
        chosen.append(zh)
        if sum(len(p) for p in chosen) >= min_chars:
            break
    return "\n\n".join(chosen)
